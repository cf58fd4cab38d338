/**
 * Latency statistics: percentiles of a sorted array, and a log-bucket histogram in the manner of
 * HDR histograms (each power of two split into linear buckets, so every recorded value
 * is known to within 1.6 % of itself) that is cheap to record into, to merge, and to send
 * between processes as a sparse list of counts.
 */

/** Linear sub-buckets per power of two: values of [64, 128) x 2^e share buckets 2^e wide, so the relative error is below 1/64 (1.6 %). */
const SUB_BUCKET_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;

/** The p-th percentile (0 < p <= 100) of an ascending array, nearest-rank; NaN when empty. */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** The median of any numbers (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Largest relative distance of any value from the median (0.1 = 10 %); 0 for fewer than 2 values. */
export function spreadFromMedian(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = median(values);
  if (m === 0) return 0;
  return Math.max(...values.map((v) => Math.abs(v - m) / Math.abs(m)));
}

/** Bucket index of a non-negative integer value. */
export function bucketIndex(value: number): number {
  const v = Math.max(0, Math.floor(value));
  if (v < SUB_BUCKETS) return v;
  let exponent = Math.max(1, Math.floor(Math.log2(v)) - SUB_BUCKET_BITS + 1);
  let sub = Math.floor(v / 2 ** exponent);
  // Guard against log2 rounding at powers of two: keep sub in [SUB_BUCKETS/2, SUB_BUCKETS).
  while (sub >= SUB_BUCKETS) sub = Math.floor(v / 2 ** ++exponent);
  while (exponent > 1 && sub < SUB_BUCKETS / 2) sub = Math.floor(v / 2 ** --exponent);
  return exponent * (SUB_BUCKETS / 2) + sub;
}

/** The highest value that falls into bucket `index` (what a percentile reports: never understated). */
export function bucketUpperBound(index: number): number {
  if (index < SUB_BUCKETS) return index;
  const half = SUB_BUCKETS / 2;
  const exponent = Math.floor(index / half) - 1;
  const sub = index - exponent * half;
  return (sub + 1) * 2 ** exponent - 1;
}

export interface HistogramJson {
  /** [bucket index, count] pairs. */
  readonly buckets: readonly (readonly [number, number])[];
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly sum: number;
}

/**
 * A histogram of non-negative values in integer units (the harness records microseconds).
 * Percentiles report the upper bound of the bucket holding the rank, clamped to the true max.
 */
export class LogHistogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  sum = 0;

  record(value: number, times = 1): void {
    if (!Number.isFinite(value) || times <= 0) return;
    const v = Math.max(0, Math.round(value));
    const i = bucketIndex(v);
    this.counts.set(i, (this.counts.get(i) ?? 0) + times);
    this.count += times;
    this.sum += v * times;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  merge(other: LogHistogram): void {
    for (const [i, c] of other.counts) this.counts.set(i, (this.counts.get(i) ?? 0) + c);
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
  }

  get mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  /** The p-th percentile (0 < p <= 100); NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (const i of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(i) as number;
      if (seen >= rank) return Math.max(this.min, Math.min(this.max, bucketUpperBound(i)));
    }
    return this.max;
  }

  /** Points of the percentile curve (for plots): [percentile, value] at the given percentiles. */
  curve(percentiles: readonly number[]): [number, number][] {
    return percentiles.map((p) => [p, this.percentile(p)]);
  }

  toJSON(): HistogramJson {
    return {
      buckets: [...this.counts.entries()].sort((a, b) => a[0] - b[0]),
      count: this.count,
      min: this.count === 0 ? 0 : this.min,
      max: this.max,
      sum: this.sum,
    };
  }

  static fromJSON(json: HistogramJson): LogHistogram {
    const h = new LogHistogram();
    for (const [i, c] of json.buckets) h.counts.set(i, c);
    h.count = json.count;
    h.min = json.count === 0 ? Number.POSITIVE_INFINITY : json.min;
    h.max = json.max;
    h.sum = json.sum;
    return h;
  }
}
