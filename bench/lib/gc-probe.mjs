// Bench-only preload (`node --expose-gc --import bench/lib/gc-probe.mjs ...`), loaded into every
// server W2 measures, the gateway included, so memory "after GC" is read the same way for all:
// on SIGUSR2 it runs two full collections and writes one line to stderr,
// `GCPROBE {"rss":…,"heapUsed":…}`. Nothing else changes in the process.
//
// With GCPROBE_SETTLE_MS set it keeps collecting once a second for that long and reports the
// reading with the lowest RSS: V8 keeps a young generation grown by a burst of allocation (16 MiB
// and more) until it has seen the process idle for a few seconds, and only then gives it back, so
// a single reading right after the streams opened charges that burst to the streams.
const settleMs = Number(process.env.GCPROBE_SETTLE_MS ?? 0);
let busy = false;

function read() {
  globalThis.gc?.();
  globalThis.gc?.();
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, heapTotal, external, arrayBuffers };
}

function report(reading, rssSeen) {
  process.stderr.write(`GCPROBE ${JSON.stringify({ ...reading, rssSeen, gc: typeof globalThis.gc === "function" })}\n`);
}

process.on("SIGUSR2", () => {
  if (busy) return;
  let best = read();
  if (!(settleMs > 0)) return report(best, [best.rss]);
  busy = true;
  const rssSeen = [best.rss];
  const started = Date.now();
  const timer = setInterval(() => {
    const now = read();
    rssSeen.push(now.rss);
    if (now.rss < best.rss) best = now;
    if (Date.now() - started < settleMs) return;
    clearInterval(timer);
    busy = false;
    report(best, rssSeen);
  }, 1000);
});
