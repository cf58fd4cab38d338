/** The benchmark harness's pure parts: percentiles, the log-bucket histogram, the framing counter. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { bucketIndex, bucketUpperBound, LogHistogram, median, percentileOfSorted, spreadFromMedian } from "../../bench/lib/histogram.js";
import { envelope, FLAG_CONNECT_END, FrameCounter } from "../../bench/lib/wire.js";
import { parseRedisBenchmark, compareWithHistory } from "../../bench/workloads/w6-probes.js";

describe("percentiles of a sorted array", () => {
  it("uses nearest rank", () => {
    const a = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentileOfSorted(a, 50), 50);
    assert.equal(percentileOfSorted(a, 99), 99);
    assert.equal(percentileOfSorted(a, 100), 100);
    assert.equal(percentileOfSorted(a, 0.1), 1);
    assert.equal(percentileOfSorted([7], 99.9), 7);
    assert.ok(Number.isNaN(percentileOfSorted([], 50)));
    assert.throws(() => percentileOfSorted(a, 0), RangeError);
    assert.throws(() => percentileOfSorted(a, 101), RangeError);
  });
  it("median and spread", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(spreadFromMedian([90, 100, 120]), 0.2);
    assert.equal(spreadFromMedian([5]), 0);
  });
});

describe("LogHistogram", () => {
  it("buckets are contiguous and each value lies within its bucket's range", () => {
    let prevUpper = -1;
    for (let i = 0; i < 2000; i++) {
      const upper = bucketUpperBound(i);
      assert.ok(upper > prevUpper, `bucket ${i} upper ${upper} after ${prevUpper}`);
      assert.equal(bucketIndex(upper), i);
      assert.equal(bucketIndex(prevUpper + 1), i);
      prevUpper = upper;
    }
  });
  it("percentiles are within 1.6 % above the exact nearest-rank percentile, never below", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50_000_000 }), { minLength: 1, maxLength: 400 }), fc.constantFrom(50, 90, 99, 99.9, 100), (values, p) => {
        const h = new LogHistogram();
        for (const v of values) h.record(v);
        const exact = percentileOfSorted([...values].sort((a, b) => a - b), p);
        const got = h.percentile(p);
        assert.ok(got >= exact, `p${p}: ${got} < exact ${exact}`);
        assert.ok(got <= exact * (1 + 1 / 64) + 1, `p${p}: ${got} too far above ${exact}`);
      }),
    );
  });
  it("merges, and survives a round trip through JSON (as sent over IPC)", () => {
    const a = new LogHistogram();
    const b = new LogHistogram();
    for (let i = 1; i <= 1000; i++) (i % 2 === 0 ? a : b).record(i * 10);
    a.merge(b);
    assert.equal(a.count, 1000);
    assert.equal(a.min, 10);
    assert.equal(a.max, 10_000);
    const back = LogHistogram.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    assert.equal(back.count, 1000);
    assert.equal(back.percentile(50), a.percentile(50));
    assert.equal(back.percentile(99.9), a.percentile(99.9));
    assert.ok(Math.abs(back.percentile(50) - 5000) <= 5000 / 64);
    assert.ok(Number.isNaN(new LogHistogram().percentile(50)));
  });
});

describe("FrameCounter", () => {
  it("counts envelopes split across arbitrary chunk boundaries and hands sampled bodies over", () => {
    const frames = [envelope(Buffer.from("a")), envelope(Buffer.alloc(300, 1)), envelope(Buffer.alloc(0)), envelope(Buffer.from("{}"), FLAG_CONNECT_END)];
    const all = Buffer.concat(frames);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: all.length }), { maxLength: 10 }), (cuts) => {
        const points = [...new Set(cuts)].sort((x, y) => x - y);
        const bodies: number[] = [];
        const c = new FrameCounter((b) => bodies.push(b.length));
        let start = 0;
        for (const p of [...points, all.length]) {
          c.push(all.subarray(start, p));
          start = p;
        }
        assert.equal(c.messages, 3);
        assert.deepEqual(bodies, [1, 300, 0]);
        assert.equal(c.ended, true);
      }),
    );
  });
});

describe("machine probes", () => {
  it("reads redis-benchmark -q output", () => {
    const out = "SET: rps=0.0 (overall: nan) avg_msec=nan\nSET: 81234.57 requests per second, p50=0.303 msec\nGET: 90909.09 requests per second, p50=0.271 msec\n";
    assert.deepEqual(parseRedisBenchmark(out), { SET: 81234.57, GET: 90909.09 });
  });
  it("flags probes more than 15 % away from the median of earlier runs", () => {
    const earlier = [{ a: 100, b: 10 }, { a: 110, b: 10 }, { a: 90, b: 10 }];
    assert.deepEqual(compareWithHistory({ a: 112, b: 10 }, earlier), []);
    assert.deepEqual(compareWithHistory({ a: 70, b: 10 }, earlier).map((m) => m.name), ["a"]);
    assert.deepEqual(compareWithHistory({ c: 1 }, earlier), []);
  });
});
