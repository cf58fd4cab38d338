/** What every workload gets from bench/run.ts, and the measurement loops they share. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LogHistogram, median } from "../lib/histogram.js";
import type { FanoutWindow } from "../load/client.js";
import type { IpcChild, Pinning } from "../lib/proc.js";
import { formatCpuPerMsg, formatInt, type Progress } from "../lib/progress.js";
import type { ServerTarget } from "../lib/targets.js";
import type { Protocol } from "../lib/wire.js";

export interface Timing {
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly repeats: number;
}

export interface BenchContext {
  readonly quick: boolean;
  readonly pinning: Pinning;
  readonly progress: Progress;
  readonly client: IpcChild;
  /** Run-unique id (service names, keys and topics on the shared brokers contain it). */
  readonly run: string;
  /** The run's service (services.json of every gateway started here lists only it). */
  readonly service: string;
  readonly topic: string;
  readonly timing: Timing;
  /** Every ratio the run measured, by name (the guard reads these). */
  readonly ratios: Map<string, number>;
  /** A StreamEvent the gateway delivered (base64), so baselines send frames of the same shape. */
  template: string | undefined;
  /** Writes docs/bench/<name> and returns the path relative to the report. */
  writePlot(name: string, svg: string): string;
}

export function plotWriter(dir: string, relative: string): (name: string, svg: string) => string {
  return (name, svg) => {
    writeFileSync(join(dir, name), svg);
    return `${relative}/${name}`;
  };
}

/** Subscribe connections for N streams: about 100 streams per connection, at least 10 (stays under the gateway's 1,000 streams per connection). */
export function connectionsFor(n: number): number {
  return Math.max(Math.min(10, n), Math.ceil(n / 100));
}


export interface FanoutMeasurement {
  readonly rates: number[];
  readonly rate: number;
  /** Server CPU-seconds per delivered message (median over the repeats). */
  readonly cpuPerMsg: number;
  /** Load-client CPU-seconds per delivered message (median). */
  readonly clientCpuPerMsg: number;
  readonly rssBytes: number;
  readonly latency: LogHistogram;
  readonly frameBytes: number;
  readonly lost: number;
  readonly lostReasons: Record<string, number>;
  readonly publishErrors: number;
  readonly publishErrorSample: string | undefined;
  readonly readyStreams: number;
  readonly primeMs: number;
}

/**
 * W1-style fan-out against one server: open N streams, wait until each has received an event,
 * publish at max rate (at most 50 events ahead of the subscribers), warm up, then `repeats`
 * windows; the server's CPU is read from /proc around each window.
 */
export async function measureFanout(
  ctx: BenchContext,
  target: ServerTarget,
  o: { tag: string; label: string; n: number; protocol?: Protocol; timing?: Timing; sampleStreams?: number },
): Promise<FanoutMeasurement> {
  const timing = o.timing ?? ctx.timing;
  const { client } = ctx;
  await client.call("open-fanout", {
    port: target.port,
    protocol: o.protocol ?? "grpc",
    n: o.n,
    conns: connectionsFor(o.n),
    service: ctx.service,
    topic: ctx.topic,
    sampleStreams: o.sampleStreams ?? Math.min(o.n, 8),
  });
  try {
    const prime = await client.call<{ primeMs: number; readyStreams: number }>("prime-fanout", { timeoutMs: 30_000, retryMs: 2000 });
    if (prime.readyStreams < o.n) ctx.progress.line(o.tag, `${o.label}: only ${prime.readyStreams}/${o.n} streams received the first event`);
    await client.call("start-publisher", { mode: "window", windowEvents: 50, concurrency: 8 });
    await client.call("measure-fanout", { ms: timing.warmupMs });
    const rates: number[] = [];
    const cpu: number[] = [];
    const clientCpu: number[] = [];
    const latency = new LogHistogram();
    let last: FanoutWindow | undefined;
    let publishErrors = 0;
    for (let r = 1; r <= timing.repeats; r++) {
      const before = target.stats();
      const w = await client.call<FanoutWindow>("measure-fanout", { ms: timing.measureMs });
      const after = target.stats();
      const clientBefore = last?.client.cpuSeconds;
      last = w;
      const rate = (w.delivered * 1000) / w.elapsedMs;
      rates.push(rate);
      cpu.push(w.delivered > 0 ? (after.cpuSeconds - before.cpuSeconds) / w.delivered : Number.NaN);
      if (clientBefore !== undefined && w.delivered > 0) clientCpu.push((w.client.cpuSeconds - clientBefore) / w.delivered);
      latency.merge(LogHistogram.fromJSON(w.latency));
      publishErrors += w.publishErrors;
      ctx.progress.line(o.tag, `${o.label} run ${r}/${timing.repeats}: ${formatInt(rate)} msgs/s, server CPU ${formatCpuPerMsg(cpu[cpu.length - 1] as number)}/msg${w.lost > 0 ? `, ${w.lost} streams lost` : ""}`);
    }
    await client.call("stop-publisher");
    const rss = target.stats().rssBytes;
    return {
      rates,
      rate: median(rates),
      cpuPerMsg: median(cpu.filter(Number.isFinite)),
      clientCpuPerMsg: median(clientCpu),
      rssBytes: rss,
      latency,
      frameBytes: last?.frameBytes ?? 0,
      lost: last?.lost ?? 0,
      lostReasons: last?.lostReasons ?? {},
      publishErrors,
      publishErrorSample: last?.publishErrorSample,
      readyStreams: prime.readyStreams,
      primeMs: prime.primeMs,
    };
  } finally {
    if (ctx.template === undefined && target.name.startsWith("gateway")) {
      ctx.template = await client.call<string | undefined>("sample-event").catch(() => undefined);
    }
    await client.call("close-fanout");
  }
}
