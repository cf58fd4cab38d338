// Bench-only preload (`node --expose-gc --import bench/lib/gc-probe.mjs ...`), loaded into every
// server W2 measures, the gateway included, so memory "after GC" is read the same way for all:
// on SIGUSR2 it runs two full collections and writes one line to stderr,
// `GCPROBE {"rss":…,"heapUsed":…}`. Nothing else changes in the process.
process.on("SIGUSR2", () => {
  if (typeof globalThis.gc === "function") {
    globalThis.gc();
    globalThis.gc();
  }
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  process.stderr.write(`GCPROBE ${JSON.stringify({ rss, heapUsed, heapTotal, external, arrayBuffers, gc: typeof globalThis.gc === "function" })}\n`);
});
