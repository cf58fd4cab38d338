/**
 * W1 fan-out: one topic, N Subscribe streams (about 100 per connection), a publisher at max rate
 * (at most 50 events ahead of the subscribers). Gateway (embedded backend) against the raw
 * node:http2 floor and the grpc-js peer, each fed the same events by the same load client.
 */
import { formatBytes, formatCpuPerMsg, formatInt, formatMs, formatRatio } from "../lib/progress.js";
import type { WorkloadReport } from "../lib/report.js";
import { lineChart, percentileToX, xToPercentileLabel } from "../lib/svg.js";
import { startBaseline, startGateway, type ServerTarget } from "../lib/targets.js";
import { connectionsFor, measureFanout, type BenchContext, type FanoutMeasurement } from "./context.js";

export const PERCENTILES = [50, 75, 90, 95, 99, 99.5, 99.9, 99.99];

type Name = "gateway" | "raw-http2" | "grpc-js";
const NAMES: readonly Name[] = ["gateway", "raw-http2", "grpc-js"];

async function start(ctx: BenchContext, name: Name): Promise<ServerTarget> {
  if (name === "gateway") return startGateway(ctx.pinning, { backend: "embedded", service: ctx.service, extraArgs: ["--max-subscribers", "60000"] });
  return startBaseline(ctx.pinning, name, { templateBase64: ctx.template });
}

export async function runW1(ctx: BenchContext): Promise<WorkloadReport> {
  const ns = ctx.quick ? [100, 1000] : [100, 1000, 10000];
  const results = new Map<Name, Map<number, FanoutMeasurement>>();
  for (const name of NAMES) {
    const target = await start(ctx, name);
    const byN = new Map<number, FanoutMeasurement>();
    results.set(name, byN);
    try {
      for (const n of ns) byN.set(n, await measureFanout(ctx, target, { tag: "W1", label: `N=${n} ${name}`, n }));
    } finally {
      await target.stop();
    }
  }
  const get = (name: Name, n: number) => results.get(name)?.get(n);
  const rows = ns.flatMap((n) =>
    NAMES.map((name) => {
      const m = get(name, n)!;
      const gw = get("gateway", n)!;
      return [
        `${formatInt(n)}`,
        name,
        formatInt(m.rate),
        formatMs(m.latency.percentile(50)),
        formatMs(m.latency.percentile(99)),
        formatMs(m.latency.percentile(99.9)),
        formatCpuPerMsg(m.cpuPerMsg),
        `${formatCpuPerMsg(m.clientCpuPerMsg)}${m.clientCpuPerMsg * m.rate > 0.85 ? " (saturated)" : ""}`,
        formatBytes(m.rssBytes),
        `${m.frameBytes} B`,
        name === "gateway" ? "-" : formatRatio(gw.rate / m.rate),
        `${m.lost}`,
      ];
    }),
  );
  for (const n of ns) {
    const gw = get("gateway", n)!;
    ctx.ratios.set(`W1 N=${n} gateway/grpc-js msgs/s`, gw.rate / get("grpc-js", n)!.rate);
    ctx.ratios.set(`W1 N=${n} gateway/raw-http2 msgs/s`, gw.rate / get("raw-http2", n)!.rate);
  }
  const top = ns[ns.length - 1] as number;
  // Per-message cost at the largest N against N=100 (CPU-seconds per message; < 2 means "no worse than 2x").
  const scaling = get("gateway", top)!.cpuPerMsg / get("gateway", 100)!.cpuPerMsg;
  ctx.ratios.set(`W1 gateway CPU/msg N=${top} over N=100`, scaling);

  const r1000g = ctx.ratios.get("W1 N=1000 gateway/grpc-js msgs/s")!;
  const r1000r = ctx.ratios.get("W1 N=1000 gateway/raw-http2 msgs/s")!;
  const goals = [
    { text: "N = 1,000: at least 1.0x grpc-js", met: r1000g >= 1.0, detail: formatRatio(r1000g) },
    { text: "N = 1,000: at least 0.25x the raw floor", met: r1000r >= 0.25, detail: formatRatio(r1000r) },
    top === 10000
      ? { text: "N = 10,000 no worse than 2x slower per message than N = 100", met: scaling <= 2, detail: `server CPU per message ${formatRatio(scaling)} of N=100` }
      : { text: "N = 10,000 no worse than 2x slower per message than N = 100", met: undefined, detail: "N = 10,000 runs in the full mode only" },
  ];

  const throughputPlot = ctx.writePlot(
    "w1-throughput.svg",
    lineChart({
      title: "W1 fan-out: delivered messages/s against subscribers",
      x: { label: "subscribers (Subscribe streams)", log: true },
      y: { label: "delivered messages/s", log: true },
      series: NAMES.map((name) => ({ name, points: ns.map((n) => [n, get(name, n)!.rate] as const) })),
    }),
  );
  const latencyPlot = ctx.writePlot(
    "w1-latency.svg",
    lineChart({
      title: "W1 fan-out at N = 1,000: publish-to-deliver latency (max rate)",
      x: { label: "percentile", log: true, format: xToPercentileLabel, ticks: [2, 10, 100, 1000, 10000] },
      y: { label: "latency (ms)", log: true },
      series: NAMES.map((name) => ({ name, points: PERCENTILES.map((p) => [percentileToX(p), get(name, 1000)!.latency.percentile(p) / 1000] as const) })),
    }),
  );
  const notes = [
    `Streams spread over ${ns.map((n) => `${connectionsFor(n)} connections for N=${formatInt(n)}`).join(", ")}; one load-client process reads them with raw node:http2, counting 5-byte gRPC envelope headers, and decodes the timestamp in the payload only on 8 sampled streams.`,
    "Publisher: PublishEvent over gRPC at max rate, but never more than 50 events ahead of the subscribers on average (so no subscriber queue overflows); latency at max rate therefore mostly measures that window, not the server's best case (W4 measures latency at a fixed rate).",
    "CPU per message: the server process's user+system CPU-seconds (/proc/<pid>/stat) during the window over the messages delivered in it. RSS: the server's VmRSS at the end of the run.",
    "Baselines get the same PublishEvent requests and send a StreamEvent of the same shape (same fields and metadata keys as an event the gateway delivered in this run); the frame column shows the bytes of one delivered gRPC frame.",
  ];
  const clientBound = NAMES.flatMap((name) => ns.filter((n) => get(name, n)!.clientCpuPerMsg * get(name, n)!.rate > 0.85).map((n) => `${name} at N=${n}`));
  if (clientBound.length > 0) {
    notes.push(`The load client used most of its core for ${clientBound.join(", ")}: there the figure is a lower bound of the server's capacity (one client process per core is all this machine has), and ratios against it overstate the gateway.`);
  }
  for (const name of NAMES) {
    for (const n of ns) {
      const m = get(name, n)!;
      if (m.lost > 0) notes.push(`${name} at N=${n}: ${m.lost} streams ended during the run (${JSON.stringify(m.lostReasons)}).`);
      if (m.publishErrors > 0) notes.push(`${name} at N=${n}: ${m.publishErrors} publishes failed (${m.publishErrorSample}).`);
      if (m.readyStreams < n) notes.push(`${name} at N=${n}: only ${m.readyStreams} streams received the first event within 30 s.`);
    }
  }
  return {
    id: "W1",
    title: "fan-out",
    what: "One topic, N Subscribe streams, a publisher at max rate; delivered messages per second at the subscribers. Baselines: raw `node:http2` with pre-serialised, coalesced frames (the floor) and `@grpc/grpc-js` (the peer).",
    tables: [
      {
        header: ["N", "server", "delivered msgs/s (median)", "p50 ms", "p99 ms", "p99.9 ms", "server CPU/msg", "load-client CPU/msg", "server RSS", "frame", "gateway / this", "streams lost"],
        rows,
      },
    ],
    goals,
    notes,
    plots: [
      { file: throughputPlot, title: "W1 throughput against subscriber count" },
      { file: latencyPlot, title: "W1 latency distribution at N = 1,000" },
    ],
  };
}
