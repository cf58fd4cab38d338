/** Shared by W3 and W5: one unary measurement through the load client, with the server's CPU. */
import { LogHistogram } from "../lib/histogram.js";
import type { ProcStats } from "../lib/proc.js";
import { formatCpuPerMsg, formatInt, formatMs } from "../lib/progress.js";
import type { Protocol } from "../lib/wire.js";
import type { BenchContext } from "./context.js";

export type { UnaryResult } from "../load/client.js";
import type { UnaryResult } from "../load/client.js";

export interface UnaryMeasurement {
  readonly rate: number;
  readonly latency: LogHistogram;
  readonly errors: number;
  readonly errorSample: string | undefined;
  readonly dropped: number;
  /** Server CPU-seconds per successful call (NaN when no server process is measured). */
  readonly cpuPerCall: number;
}

export interface UnarySpec {
  readonly tag: string;
  readonly label: string;
  /** The load-client command ("unary" or "redis-unary") and its arguments. */
  readonly cmd: "unary" | "redis-unary";
  readonly args: Record<string, unknown>;
  /** The server processes whose CPU counts (gateway, daprd...). */
  readonly servers?: readonly (() => ProcStats)[];
}

export async function measureUnary(ctx: BenchContext, spec: UnarySpec): Promise<UnaryMeasurement> {
  const before = (spec.servers ?? []).map((s) => s().cpuSeconds);
  const r = await ctx.client.call<UnaryResult>(spec.cmd, spec.args);
  const after = (spec.servers ?? []).map((s) => s().cpuSeconds);
  const cpu = spec.servers === undefined || spec.servers.length === 0 ? Number.NaN : after.reduce((a, v, i) => a + v - (before[i] as number), 0);
  const latency = LogHistogram.fromJSON(r.latency);
  const m = {
    rate: (r.count * 1000) / r.elapsedMs,
    latency,
    errors: r.errors,
    errorSample: r.errorSample,
    dropped: r.dropped,
    cpuPerCall: r.count > 0 ? cpu / r.count : Number.NaN,
  };
  ctx.progress.line(
    spec.tag,
    `${spec.label}: ${formatInt(m.rate)} calls/s, p50 ${formatMs(latency.percentile(50))} ms, p99 ${formatMs(latency.percentile(99))} ms` +
      (Number.isFinite(m.cpuPerCall) ? `, server CPU ${formatCpuPerMsg(m.cpuPerCall)}/call` : "") +
      (r.errors > 0 ? `, ${r.errors} errors (${r.errorSample})` : "") +
      (r.dropped > 0 ? `, ${r.dropped} not sent (4,000 in flight)` : ""),
  );
  return m;
}

/** Arguments of a gateway/daprd unary run. */
export function unaryArgs(
  ctx: BenchContext,
  o: { port: number; target: "gateway" | "daprd"; protocol?: Protocol; op: "get" | "save"; mode: "open" | "closed"; rate?: number; concurrency?: number; durationMs: number; warmupMs: number },
): Record<string, unknown> {
  return {
    port: o.port,
    target: o.target,
    protocol: o.protocol ?? "grpc",
    op: o.op,
    service: ctx.service,
    keyPrefix: `k${ctx.run}-`,
    keyCount: 100,
    valueBytes: 200,
    conns: 16,
    mode: o.mode,
    rate: o.rate,
    concurrency: o.concurrency,
    warmupMs: o.warmupMs,
    durationMs: o.durationMs,
  };
}
