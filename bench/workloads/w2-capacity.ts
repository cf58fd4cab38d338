/**
 * W2 capacity: hold N idle Subscribe streams; memory per stream from the server's RSS before and
 * after (a fresh server per N; RSS read after the streams have each received one event and the
 * server has been idle for a moment), and the time until every stream has received its first
 * event. Also after two forced full collections (bench/lib/gc-probe.mjs, a bench-only preload
 * every measured server loads): RSS and V8 heap in use, before and with the streams.
 */
import { freemem } from "node:os";
import { formatBytes, formatInt, formatRatio } from "../lib/progress.js";
import type { WorkloadReport } from "../lib/report.js";
import { lineChart } from "../lib/svg.js";
import { startBaseline, startGateway, type ServerTarget } from "../lib/targets.js";
import { connectionsFor, type BenchContext } from "./context.js";

type Name = "gateway" | "raw-http2" | "grpc-js";
const NAMES: readonly Name[] = ["gateway", "raw-http2", "grpc-js"];

interface Capacity {
  n: number;
  rssBefore: number;
  rssAfter: number;
  perStream: number;
  /** After forced GC: RSS and heap deltas per stream, and the RSS with the streams. */
  rssGcPerStream: number;
  heapGcPerStream: number;
  rssGcBefore: number;
  rssGcAfter: number;
  establishMs: number;
  ready: number;
  lost: number;
}

const mib = (list: readonly number[]) => list.map((b) => (b / 2 ** 20).toFixed(0)).join("/");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long each server idles (collecting once a second) before its memory is read: V8 gives back
 * a young generation grown by the burst of opening the streams only after seeing the process idle
 * for a few seconds (about 6 to 10 s here). Quick mode reads at once, so its figures include that burst.
 */
const GC_SETTLE_MS = 15_000;

async function measure(ctx: BenchContext, name: Name, n: number): Promise<Capacity> {
  const gcSettleMs = ctx.quick ? 0 : GC_SETTLE_MS;
  const target: ServerTarget =
    name === "gateway"
      ? await startGateway(ctx.pinning, { backend: "embedded", service: ctx.service, extraArgs: ["--max-subscribers", String(Math.max(10000, n + 100))], gcSettleMs })
      : await startBaseline(ctx.pinning, name, { templateBase64: ctx.template, gcSettleMs });
  try {
    await sleep(1000);
    const rssBefore = target.stats().rssBytes;
    const gcBefore = await target.memoryAfterGc();
    const open = await ctx.client.call<{ openMs: number }>("open-fanout", {
      port: target.port,
      protocol: "grpc",
      n,
      conns: connectionsFor(n),
      service: ctx.service,
      topic: ctx.topic,
      sampleStreams: 0,
    });
    try {
      const prime = await ctx.client.call<{ primeMs: number; readyStreams: number }>("prime-fanout", { timeoutMs: 60_000, retryMs: 5000 });
      await sleep(ctx.quick ? 1000 : 2000);
      const w = await ctx.client.call<{ lost: number }>("measure-fanout", { ms: 1 });
      const rssAfter = target.stats().rssBytes;
      const gcAfter = await target.memoryAfterGc();
      const c: Capacity = {
        n,
        rssBefore,
        rssAfter,
        perStream: (rssAfter - rssBefore) / n,
        rssGcPerStream: (gcAfter.rssBytes - gcBefore.rssBytes) / n,
        heapGcPerStream: (gcAfter.heapUsedBytes - gcBefore.heapUsedBytes) / n,
        rssGcBefore: gcBefore.rssBytes,
        rssGcAfter: gcAfter.rssBytes,
        establishMs: open.openMs + prime.primeMs,
        ready: prime.readyStreams,
        lost: w.lost,
      };
      ctx.progress.line(
        "W2",
        `N=${formatInt(n)} ${name}: ${formatBytes(c.perStream)} RSS per stream (${formatBytes(rssBefore)} -> ${formatBytes(rssAfter)}); after GC ${formatBytes(c.rssGcPerStream)} RSS, ${formatBytes(c.heapGcPerStream)} heap per stream; all streams live after ${formatInt(c.establishMs)} ms; RSS MiB seen while settling: ${mib(gcBefore.rssSeenBytes)} before, ${mib(gcAfter.rssSeenBytes)} with the streams`,
      );
      return c;
    } finally {
      await ctx.client.call("close-fanout");
    }
  } finally {
    await target.stop();
  }
}

export async function runW2(ctx: BenchContext): Promise<WorkloadReport> {
  const notes: string[] = [
    "RSS per stream = (server RSS with N idle streams - server RSS of the same fresh server before any stream) / N; RSS from /proc/<pid>/status (VmRSS).",
    "After GC: every measured server (gateway and baselines alike) runs with `--expose-gc` and a bench-only preload (bench/lib/gc-probe.mjs) that, on SIGUSR2, runs two full collections and reports process.memoryUsage(); the same deltas / N of RSS and of V8 heap in use. The 15 KB goal is judged on the RSS delta after GC (PERFORMANCE.md: \"RSS and heap after GC\").",
    ctx.quick
      ? "Quick mode reads memory after GC at once: V8 still holds the young generation grown while the streams opened (16 MiB and more), so quick figures per stream read high, most at N = 1,000."
      : `Both readings after GC (before the streams and with them) are taken once the server has idled for ${GC_SETTLE_MS / 1000} s, collecting once a second, and are the lowest RSS seen: V8 gives back the young generation grown while the streams opened (16 MiB and more) only after a few idle seconds, and a reading taken at once would charge it to the streams. The same for every server.`,
    "Time to establish: from opening the first connection until every stream has received one published event (so the subscription is live end to end, not just accepted).",
  ];
  // BENCH_W2_N: other stream counts (comma-separated), to look at one size.
  let ns = process.env["BENCH_W2_N"] !== undefined ? process.env["BENCH_W2_N"].split(",").map(Number) : ctx.quick ? [1000] : [1000, 10000, 50000];
  if (ns.includes(50000) && freemem() < 6 * 2 ** 30) {
    ns = ns.filter((n) => n !== 50000);
    notes.push(`N = 50,000 left out: only ${formatBytes(freemem())} of memory free (wants 6 GiB for server and client).`);
  }
  if (ctx.quick) notes.push("Quick mode measures N = 1,000 only; the full run adds 10,000 and 50,000.");
  const results = new Map<Name, Capacity[]>();
  for (const name of NAMES) {
    const list: Capacity[] = [];
    results.set(name, list);
    for (const n of ns) list.push(await measure(ctx, name, n));
  }
  const at = (name: Name, n: number) => results.get(name)!.find((c) => c.n === n)!;
  const rows = ns.flatMap((n) =>
    NAMES.map((name) => {
      const c = at(name, n);
      return [
        formatInt(n),
        name,
        formatBytes(c.perStream),
        formatBytes(c.rssGcPerStream),
        formatBytes(c.heapGcPerStream),
        formatBytes(c.rssBefore),
        formatBytes(c.rssAfter),
        formatBytes(c.rssGcBefore),
        formatBytes(c.rssGcAfter),
        `${formatInt(c.establishMs)} ms`,
        `${c.ready}/${n}`,
        name === "gateway" ? "-" : formatRatio(c.rssGcPerStream / at("gateway", n).rssGcPerStream),
      ];
    }),
  );
  for (const n of ns) {
    const g = at("gateway", n).perStream;
    ctx.ratios.set(`W2 N=${n} grpc-js/gateway bytes per stream`, at("grpc-js", n).perStream / g);
    ctx.ratios.set(`W2 N=${n} raw-http2/gateway bytes per stream`, at("raw-http2", n).perStream / g);
  }
  // Judged at N = 1,000 and 10,000 (whichever ran).
  const judged = ns.filter((n) => n === 1000 || n === 10000);
  const g = (n: number) => at("gateway", n);
  const goals = [
    {
      text: "at most 15 KB (15,000 bytes) per subscriber (RSS after GC)",
      met: judged.length === 0 ? undefined : judged.every((n) => g(n).rssGcPerStream <= 15e3),
      detail: judged.map((n) => `${formatBytes(g(n).rssGcPerStream)} at N = ${formatInt(n)} (heap after GC ${formatBytes(g(n).heapGcPerStream)}; RSS without GC ${formatBytes(g(n).perStream)})`).join("; "),
    },
    ns.includes(10000)
      ? {
          text: "10k subscribers under 200 MB (200,000,000 bytes) RSS, after GC like the per-subscriber goal",
          met: at("gateway", 10000).rssGcAfter < 200 * 1e6,
          detail: `${formatBytes(at("gateway", 10000).rssGcAfter)} after GC; ${formatBytes(at("gateway", 10000).rssAfter)} read without forcing a collection`,
        }
      : { text: "10k subscribers under 200 MB RSS", met: undefined, detail: "N = 10,000 runs in the full mode only" },
  ];
  const plot = ctx.writePlot(
    "w2-memory.svg",
    lineChart({
      title: "W2 capacity: memory per idle Subscribe stream",
      x: { label: "idle streams", log: true },
      y: { label: "KiB per stream (RSS delta after GC / N)" },
      series: NAMES.map((name) => ({ name, points: ns.map((n) => [n, at(name, n).rssGcPerStream / 1024] as const) })),
    }),
  );
  return {
    id: "W2",
    title: "capacity",
    what: "N idle Subscribe streams held open on one server: memory per stream and time until all are live. Baselines: raw `node:http2`, `@grpc/grpc-js`.",
    tables: [
      {
        header: ["N", "server", "RSS per stream", "RSS per stream after GC", "heap per stream after GC", "RSS before", "RSS with N streams", "after GC: RSS before", "after GC: RSS with N streams", "time to establish", "live streams", "this / gateway (RSS after GC)"],
        rows,
      },
    ],
    goals,
    notes,
    plots: [{ file: plot, title: "W2 memory per stream" }],
  };
}
