/**
 * Line charts as standalone SVG text, with no plotting dependency: linear or log axes, ticks,
 * a legend, one polyline (and dots) per series. Pure functions: data in, a string out.
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface Axis {
  readonly label: string;
  readonly log?: boolean;
  /** Tick labels: how a value is shown (default: compact number). */
  readonly format?: (v: number) => string;
  /** Explicit tick positions (default: chosen from the data). */
  readonly ticks?: readonly number[];
}

export interface ChartOptions {
  readonly title: string;
  readonly x: Axis;
  readonly y: Axis;
  readonly series: readonly Series[];
  readonly width?: number;
  readonly height?: number;
}

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] as string);
}

/** 1234 -> "1.2k", 2_500_000 -> "2.5M", 0.25 -> "0.25". */
export function compactNumber(v: number): string {
  const a = Math.abs(v);
  const trim = (s: string) => s.replace(/\.0+$|(\.\d*?)0+$/, "$1");
  if (a >= 1e6) return `${trim((v / 1e6).toFixed(1))}M`;
  if (a >= 1e3) return `${trim((v / 1e3).toFixed(1))}k`;
  if (a >= 10 || a === 0) return trim(v.toFixed(0));
  if (a >= 1) return trim(v.toFixed(1));
  return trim(v.toPrecision(2));
}

/** "Nice" linear ticks (1, 2, 5 x 10^k steps) covering [lo, hi]. */
export function linearTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Powers of ten covering [lo, hi] (lo > 0). */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  const e0 = Math.floor(Math.log10(lo));
  const e1 = Math.ceil(Math.log10(hi));
  // Few decades: 1, 2, 5 per decade, so the axis is still readable.
  const steps = e1 - e0 <= 2 ? [1, 2, 5] : [1];
  for (let e = e0; e <= e1; e++) for (const s of steps) ticks.push(Number((s * 10 ** e).toPrecision(12)));
  const inside = ticks.filter((t) => t >= lo && t <= hi);
  const below = ticks.filter((t) => t < lo).pop();
  const above = ticks.find((t) => t > hi);
  return [...(below !== undefined ? [below] : []), ...inside, ...(above !== undefined ? [above] : [])];
}

interface Scale {
  readonly lo: number;
  readonly hi: number;
  readonly ticks: readonly number[];
  map(v: number, from: number, to: number): number;
}

function scale(axis: Axis, values: readonly number[]): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  let lo = finite.length > 0 ? Math.min(...finite) : axis.log ? 1 : 0;
  let hi = finite.length > 0 ? Math.max(...finite) : lo + 1;
  if (axis.log) {
    const ticks = axis.ticks ?? logTicks(lo, hi);
    lo = Math.min(lo, ...ticks.filter((t) => t <= lo));
    hi = Math.max(hi, ...ticks.filter((t) => t >= hi));
    if (hi <= lo) hi = lo * 10;
    const l0 = Math.log10(lo);
    const l1 = Math.log10(hi);
    return { lo, hi, ticks: ticks.filter((t) => t >= lo && t <= hi), map: (v, a, b) => a + ((Math.log10(v) - l0) / (l1 - l0)) * (b - a) };
  }
  lo = Math.min(0, lo);
  if (hi <= lo) hi = lo + 1;
  const ticks = axis.ticks ?? linearTicks(lo, hi);
  hi = Math.max(hi, ...ticks);
  return { lo, hi, ticks, map: (v, a, b) => a + ((v - lo) / (hi - lo)) * (b - a) };
}

/** A line chart as a complete SVG document. Points with non-finite (or, on log axes, non-positive) values are left out. */
export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const m = { left: 72, right: 180, top: 40, bottom: 56 };
  const plotable = (axis: Axis, v: number) => Number.isFinite(v) && (!axis.log || v > 0);
  const series = options.series.map((s) => ({
    name: s.name,
    points: s.points.filter(([x, y]) => plotable(options.x, x) && plotable(options.y, y)),
  }));
  const xs = scale(options.x, series.flatMap((s) => s.points.map((p) => p[0])));
  const ys = scale(options.y, series.flatMap((s) => s.points.map((p) => p[1])));
  const px = (v: number) => xs.map(v, m.left, width - m.right);
  const py = (v: number) => ys.map(v, height - m.bottom, m.top);
  const fx = options.x.format ?? compactNumber;
  const fy = options.y.format ?? compactNumber;
  const r = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`);
  for (const t of xs.ticks) {
    const x = r(px(t));
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${height - m.bottom}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x}" y="${height - m.bottom + 16}" text-anchor="middle">${escapeXml(fx(t))}</text>`);
  }
  for (const t of ys.ticks) {
    const y = r(py(t));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${width - m.right}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(fy(t))}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(m.left + width - m.right) / 2}" y="${height - 14}" text-anchor="middle">${escapeXml(options.x.label)}</text>`);
  out.push(`<text transform="translate(16 ${(m.top + height - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.y.label)}</text>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    if (s.points.length > 1) {
      const pts = s.points.map(([x, y]) => `${r(px(x))},${r(py(y))}`).join(" ");
      out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts}"/>`);
    }
    for (const [x, y] of s.points) out.push(`<circle cx="${r(px(x))}" cy="${r(py(y))}" r="3" fill="${colour}"/>`);
    const ly = m.top + 8 + i * 20;
    out.push(`<line x1="${width - m.right + 12}" y1="${ly}" x2="${width - m.right + 32}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<text x="${width - m.right + 38}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/**
 * The x coordinate of a percentile on an HDR-style percentile plot: 1 / (1 - p/100), so 50 -> 2,
 * 90 -> 10, 99 -> 100, 99.9 -> 1000 (a log axis then spreads the tail out).
 */
export function percentileToX(p: number): number {
  return 1 / (1 - Math.min(p, 99.9999) / 100);
}

/** Tick labels for percentileToX: 2 -> "50%", 100 -> "99%". */
export function xToPercentileLabel(x: number): string {
  const p = 100 * (1 - 1 / x);
  return `${Number(p.toPrecision(6))}%`;
}
