/**
 * W4 publish to deliver: PublishEvent at 1,000 events/s to 100 subscribers through daprd and a
 * broker (Redis Streams; NATS JetStream in the full run), with the send time in the payload and
 * the latency of every delivered event on 10 sampled streams in a log-bucket histogram. Baseline:
 * the same broker without the gateway (a Node publisher and subscriber on it directly).
 */
import { LogHistogram, type HistogramJson } from "../lib/histogram.js";
import { formatCpuPerMsg, formatInt, formatMs, formatRatio } from "../lib/progress.js";
import type { Goal, WorkloadReport } from "../lib/report.js";
import { lineChart, percentileToX, xToPercentileLabel } from "../lib/svg.js";
import { connectionsFor, type BenchContext } from "./context.js";
import { daprdMissing, startDaprdOnly, startDaprEnv } from "./daprd-env.js";
import { PERCENTILES } from "./w1-fanout.js";

type Broker = "redis" | "jetstream";
const BROKER_NAME: Record<Broker, string> = { redis: "Redis Streams", jetstream: "NATS JetStream" };

interface PathResult {
  rate: number;
  latency: LogHistogram;
  cpuPerMsg: number;
  lost: number;
  publishErrors: number;
  received: number;
  /** Publishes not sent because 500 were in flight (the path could not keep up with the rate). */
  skipped: number;
}

async function throughGateway(ctx: BenchContext, broker: Broker, rate: number, subscribers: number): Promise<PathResult> {
  const env = await startDaprEnv(ctx, broker);
  const { client } = ctx;
  try {
    await client.call("open-fanout", { port: env.gateway.port, protocol: "grpc", n: subscribers, conns: connectionsFor(subscribers), service: ctx.service, topic: ctx.topic, sampleStreams: 10 });
    const prime = await client.call<{ readyStreams: number; primeMs: number }>("prime-fanout", { timeoutMs: 30_000, retryMs: 2000 });
    ctx.progress.line("W4", `${BROKER_NAME[broker]} via gateway: ${prime.readyStreams}/${subscribers} streams live after ${formatInt(prime.primeMs)} ms`);
    await client.call("start-publisher", { mode: "rate", rate });
    await client.call("measure-fanout", { ms: ctx.timing.warmupMs });
    const latency = new LogHistogram();
    let delivered = 0;
    let elapsed = 0;
    let cpu = 0;
    let lost = 0;
    let publishErrors = 0;
    let skipped = 0;
    const repeats = ctx.timing.repeats;
    const ms = ctx.quick ? 1000 : 5000;
    for (let r = 1; r <= repeats; r++) {
      const before = env.gateway.stats().cpuSeconds + env.daprdStats().cpuSeconds;
      const w = await client.call<{ delivered: number; published: number; publishSkipped: number; elapsedMs: number; latency: HistogramJson; lost: number; publishErrors: number; publishErrorSample?: string }>("measure-fanout", { ms });
      cpu += env.gateway.stats().cpuSeconds + env.daprdStats().cpuSeconds - before;
      const h = LogHistogram.fromJSON(w.latency);
      latency.merge(h);
      delivered += w.delivered;
      elapsed += w.elapsedMs;
      lost = w.lost;
      publishErrors += w.publishErrors;
      ctx.progress.line("W4", `${BROKER_NAME[broker]} via gateway run ${r}/${repeats}: ${formatInt((w.delivered * 1000) / w.elapsedMs)} msgs/s delivered (${formatInt((w.published * 1000) / w.elapsedMs)} events/s published${w.publishSkipped > 0 ? `, ${w.publishSkipped} not sent: 500 in flight` : ""}${w.publishErrors > 0 ? `, ${w.publishErrors} failed: ${w.publishErrorSample}` : ""}), p50 ${formatMs(h.percentile(50))} ms, p99 ${formatMs(h.percentile(99))} ms`);
      skipped += w.publishSkipped;
    }
    await client.call("stop-publisher");
    return { rate: (delivered * 1000) / elapsed, latency, cpuPerMsg: cpu / delivered, lost, publishErrors, received: latency.count, skipped };
  } finally {
    await client.call("close-fanout").catch(() => undefined);
    await env.stop();
  }
}

async function direct(ctx: BenchContext, broker: Broker, rate: number): Promise<PathResult> {
  const ms = (ctx.quick ? 1000 : 5000) * ctx.timing.repeats;
  const r = await ctx.client.call<{ published: number; received: number; elapsedMs: number; latency: HistogramJson }>(broker === "redis" ? "redis-streams-latency" : "jetstream-latency", {
    rate,
    warmupMs: ctx.timing.warmupMs,
    durationMs: ms,
    payloadBytes: 60,
  });
  const latency = LogHistogram.fromJSON(r.latency);
  ctx.progress.line("W4", `${BROKER_NAME[broker]} direct: ${formatInt((r.received * 1000) / r.elapsedMs)} msgs/s received, p50 ${formatMs(latency.percentile(50))} ms, p99 ${formatMs(latency.percentile(99))} ms`);
  return { rate: (r.received * 1000) / r.elapsedMs, latency, cpuPerMsg: Number.NaN, lost: 0, publishErrors: 0, received: r.received, skipped: 0 };
}

/**
 * The sidecar path without the gateway: a Node publisher and one subscriber on daprd's own gRPC
 * API (PublishEvent, SubscribeTopicEventsAlpha1) with the same components, so the report shows
 * how much of W4 is daprd's.
 */
async function daprdDirect(ctx: BenchContext, broker: Broker, rate: number): Promise<PathResult> {
  const env = await startDaprdOnly(ctx, broker);
  try {
    const ms = (ctx.quick ? 1000 : 5000) * ctx.timing.repeats;
    const before = env.daprdStats().cpuSeconds;
    const r = await ctx.client.call<{ published: number; received: number; elapsedMs: number; latency: HistogramJson; publishErrors: number; inFlightSkipped: number }>("daprd-stream-latency", {
      grpcPort: env.daprd.grpcPort,
      pubsub: "pubsub",
      topic: `${ctx.service}.w4direct`,
      rate,
      warmupMs: ctx.timing.warmupMs,
      durationMs: ms,
      payloadBytes: 60,
    });
    const cpu = env.daprdStats().cpuSeconds - before;
    const latency = LogHistogram.fromJSON(r.latency);
    ctx.progress.line(
      "W4",
      `${BROKER_NAME[broker]} via daprd, no gateway: ${formatInt((r.received * 1000) / r.elapsedMs)} msgs/s received (${formatInt((r.published * 1000) / r.elapsedMs)} events/s published${r.inFlightSkipped > 0 ? `, ${r.inFlightSkipped} not sent: 500 in flight` : ""}${r.publishErrors > 0 ? `, ${r.publishErrors} failed` : ""}), p50 ${formatMs(latency.percentile(50))} ms, p99 ${formatMs(latency.percentile(99))} ms`,
    );
    return { rate: (r.received * 1000) / r.elapsedMs, latency, cpuPerMsg: r.received > 0 ? cpu / r.received : Number.NaN, lost: 0, publishErrors: r.publishErrors, received: r.received, skipped: r.inFlightSkipped };
  } finally {
    await env.stop();
  }
}

export async function runW4(ctx: BenchContext): Promise<WorkloadReport> {
  const what =
    "PublishEvent at 1,000 events/s (open loop, send time in the payload) to 100 Subscribe streams through daprd and the broker; the latency of every event on 10 sampled streams. Baseline: the same broker without the gateway (a Node publisher and one subscriber on it directly: XADD/XREAD on Redis Streams, js.publish and an ordered consumer on JetStream). Also shown: daprd with the same components and no gateway (a Node publisher and one subscriber on daprd's gRPC API), to tell daprd's share from the gateway's.";
  const missing = daprdMissing();
  if (missing !== undefined) {
    ctx.progress.line("W4", `skipped: ${missing}`);
    return { id: "W4", title: "publish to deliver", what, tables: [], goals: [], notes: [], plots: [], skipped: missing };
  }
  const brokers: Broker[] = ctx.quick ? ["redis"] : ["redis", "jetstream"];
  // BENCH_W4_RATE: a lower rate, to look at a path that cannot keep up with the goal's 1,000/s.
  const rate = Number(process.env["BENCH_W4_RATE"] ?? 1000);
  const subscribers = 100;
  const rows: string[][] = [];
  const goals: Goal[] = [];
  const series: { name: string; points: (readonly [number, number])[] }[] = [];
  const notes: string[] = [];
  for (const broker of brokers) {
    const gw = await throughGateway(ctx, broker, rate, subscribers);
    const base = await direct(ctx, broker, rate);
    const sidecar = await daprdDirect(ctx, broker, rate);
    for (const [name, m] of [
      [`gateway via daprd + ${BROKER_NAME[broker]}`, gw],
      [`${BROKER_NAME[broker]} direct`, base],
      [`daprd + ${BROKER_NAME[broker]}, no gateway`, sidecar],
    ] as const) {
      rows.push([name, formatInt(m.rate), formatMs(m.latency.percentile(50)), formatMs(m.latency.percentile(99)), formatMs(m.latency.percentile(99.9)), formatMs(m.latency.max), formatCpuPerMsg(m.cpuPerMsg), formatInt(m.received)]);
      series.push({ name, points: PERCENTILES.map((p) => [percentileToX(p), m.latency.percentile(p) / 1000] as const) });
    }
    const p99 = gw.latency.percentile(99);
    const extra = (p99 - base.latency.percentile(99)) / 1000;
    const tail = gw.latency.percentile(99.9) / p99;
    ctx.ratios.set(`W4 ${broker} direct/gateway p99`, base.latency.percentile(99) / p99);
    goals.push({ text: `${BROKER_NAME[broker]}: p99 at most the baseline's p99 + 3.5 ms`, met: extra <= 3.5, detail: `+${extra.toFixed(2)} ms (${formatMs(p99)} against ${formatMs(base.latency.percentile(99))} ms)` });
    goals.push({ text: `${BROKER_NAME[broker]}: p99.9 at most 3x p99`, met: tail <= 3, detail: formatRatio(tail) });
    notes.push(
      `${BROKER_NAME[broker]}: daprd alone (a Node publisher and one subscriber on daprd's gRPC API, same components, no gateway) delivers ${formatInt(sidecar.rate)} events/s of the ${formatInt(rate)} published, p99 ${formatMs(sidecar.latency.percentile(99))} ms${sidecar.skipped > 0 ? ` (${formatInt(sidecar.skipped)} publishes not sent: 500 in flight)` : ""}; through the gateway ${formatInt(gw.rate / subscribers)} events/s reach each subscriber.`,
    );
    if (gw.lost > 0) notes.push(`${BROKER_NAME[broker]}: ${gw.lost} of ${subscribers} streams ended during the run.`);
    if (gw.publishErrors > 0) notes.push(`${BROKER_NAME[broker]}: ${gw.publishErrors} publishes failed.`);
    if (gw.skipped > 0) notes.push(`${BROKER_NAME[broker]} via the gateway did not keep up with ${formatInt(rate)} events/s: ${formatInt(gw.skipped)} publishes were not sent because 500 were already in flight (latency then includes queueing).`);
  }
  if (ctx.quick) notes.push("Quick mode: Redis Streams only; the full run adds NATS JetStream.");
  notes.push("Delivered msgs/s counts messages at all 100 subscribers for the gateway paths (1,000 events/s would be 100,000 msgs/s) and at the one subscriber of the direct baselines (1,000 msgs/s); latency is per event in both.");
  notes.push("Server CPU per delivered message: the gateway's and daprd's CPU-seconds together; the broker's own CPU is not counted.");
  const plot = ctx.writePlot(
    "w4-latency.svg",
    lineChart({
      title: "W4 publish to deliver at 1,000 events/s: latency distribution",
      x: { label: "percentile", log: true, format: xToPercentileLabel, ticks: [2, 10, 100, 1000, 10000] },
      y: { label: "latency (ms)", log: true },
      series,
    }),
  );
  return {
    id: "W4",
    title: "publish to deliver",
    what,
    tables: [{ header: ["path", "delivered msgs/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "server CPU/msg", "latency samples"], rows }],
    goals,
    notes,
    plots: [{ file: plot, title: "W4 latency distributions" }],
  };
}
