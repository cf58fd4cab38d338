/**
 * W3 unary state: GetState and SaveState with 200-byte values, open-loop at fixed rates over 16
 * HTTP/2 connections. The gateway on daprd against the same client calling daprd's gRPC API
 * directly (the key layout the gateway uses) and against Node calling Redis directly (ioredis);
 * the gateway on its embedded store alongside. Then saturation (closed loop) of the gateway on
 * daprd against a grpc-js gateway making the same daprd call (bench/baselines/grpc-js-gateway.ts).
 */
import { median } from "../lib/histogram.js";
import { formatCpuPerMsg, formatInt, formatMs } from "../lib/progress.js";
import type { WorkloadReport } from "../lib/report.js";
import { lineChart, percentileToX, xToPercentileLabel } from "../lib/svg.js";
import { startBaseline, startGateway, type ServerTarget } from "../lib/targets.js";
import type { BenchContext } from "./context.js";
import { daprdMissing, startDaprEnv } from "./daprd-env.js";
import { measureUnary, unaryArgs, type UnaryMeasurement } from "./unary.js";
import { PERCENTILES } from "./w1-fanout.js";

type Target = "gateway (dapr)" | "grpc-js gateway" | "daprd direct" | "redis direct" | "gateway (embedded)";
const TARGETS: readonly Target[] = ["gateway (dapr)", "grpc-js gateway", "daprd direct", "redis direct", "gateway (embedded)"];
/** The targets that sit in front of daprd, whose latency is compared with daprd direct. */
const OVER_DAPRD: ReadonlySet<Target> = new Set(["gateway (dapr)", "grpc-js gateway"]);
type Op = "get" | "save";
const OP_NAME: Record<Op, string> = { get: "GetState", save: "SaveState" };

export async function runW3(ctx: BenchContext): Promise<WorkloadReport> {
  const what =
    "GetState and SaveState with 200-byte values at fixed rates (open loop, latency from the intended send time), 16 HTTP/2 connections. The gateway on daprd (Redis state store) against the same client calling daprd's gRPC API directly and against Node calling Redis directly (ioredis, GET/SET); the gateway on its embedded store alongside. Then saturation (closed loop): the gateway on daprd against a grpc-js gateway making the same daprd call (bench/baselines/grpc-js-gateway.ts).";
  const missing = daprdMissing();
  if (missing !== undefined) {
    ctx.progress.line("W3", `skipped: ${missing}`);
    return { id: "W3", title: "unary state", what, tables: [], goals: [], notes: [], plots: [], skipped: missing };
  }
  const rates = ctx.quick ? [1000] : [1000, 5000];
  const durationMs = ctx.quick ? 1500 : 5000;
  const warmupMs = ctx.quick ? 500 : 1500;
  const results = new Map<string, UnaryMeasurement>();
  const key = (rate: number, op: Op, t: Target) => `${rate} ${op} ${t}`;
  let saturation: Saturation | undefined;

  const env = await startDaprEnv(ctx, "redis");
  try {
    const gw = env.gateway;
    // The peer in front of the same daprd: how much of the latency over daprd direct any Node
    // process adds on this machine, next to what the gateway adds.
    const peer = await startBaseline(ctx.pinning, "grpc-js-gateway", { args: ["--dapr-grpc-port", String(env.daprd.grpcPort)] });
    try {
      for (const rate of rates) {
        for (const op of ["save", "get"] as const) {
          const common = { op, mode: "open" as const, rate, warmupMs, durationMs };
          results.set(key(rate, op, "gateway (dapr)"), await measureUnary(ctx, { tag: "W3", label: `${OP_NAME[op]} ${rate}/s gateway (dapr)`, cmd: "unary", args: unaryArgs(ctx, { port: gw.port, target: "gateway", ...common }), servers: [gw.stats, env.daprdStats] }));
          results.set(key(rate, op, "grpc-js gateway"), await measureUnary(ctx, { tag: "W3", label: `${OP_NAME[op]} ${rate}/s grpc-js gateway`, cmd: "unary", args: unaryArgs(ctx, { port: peer.port, target: "gateway", ...common }), servers: [peer.stats, env.daprdStats] }));
          results.set(key(rate, op, "daprd direct"), await measureUnary(ctx, { tag: "W3", label: `${OP_NAME[op]} ${rate}/s daprd direct`, cmd: "unary", args: unaryArgs(ctx, { port: env.daprd.grpcPort, target: "daprd", ...common }), servers: [env.daprdStats] }));
          results.set(
            key(rate, op, "redis direct"),
            await measureUnary(ctx, { tag: "W3", label: `${OP_NAME[op]} ${rate}/s redis direct`, cmd: "redis-unary", args: { op, keyPrefix: `${ctx.service}-redis-`, keyCount: 100, valueBytes: 200, conns: 16, rate, warmupMs, durationMs } }),
          );
        }
      }
      saturation = await measureSaturation(ctx, env.gateway, peer, env.daprdStats);
    } finally {
      await peer.stop();
    }
  } finally {
    await env.stop();
  }
  const embedded = await startGateway(ctx.pinning, { backend: "embedded", service: ctx.service });
  try {
    for (const rate of rates) {
      for (const op of ["save", "get"] as const) {
        results.set(
          key(rate, op, "gateway (embedded)"),
          await measureUnary(ctx, { tag: "W3", label: `${OP_NAME[op]} ${rate}/s gateway (embedded)`, cmd: "unary", args: unaryArgs(ctx, { port: embedded.port, target: "gateway", op, mode: "open", rate, warmupMs, durationMs }), servers: [embedded.stats] }),
        );
      }
    }
  } finally {
    await embedded.stop();
  }

  const rows: string[][] = [];
  const goals: { text: string; met: boolean | undefined; detail: string }[] = [];
  for (const rate of rates) {
    for (const op of ["save", "get"] as const) {
      const direct = results.get(key(rate, op, "daprd direct"))!;
      /** Microseconds a target adds over daprd direct at percentile `p`. */
      const over = (m: UnaryMeasurement, p: number) => m.latency.percentile(p) - direct.latency.percentile(p);
      for (const t of TARGETS) {
        const m = results.get(key(rate, op, t))!;
        const overCell = OVER_DAPRD.has(t) ? `${signedMs(over(m, 50))} / ${signedMs(over(m, 99))}` : "-";
        rows.push([`${formatInt(rate)}/s`, OP_NAME[op], t, formatInt(m.rate), formatMs(m.latency.percentile(50)), formatMs(m.latency.percentile(99)), formatMs(m.latency.percentile(99.9)), formatCpuPerMsg(m.cpuPerCall), overCell, `${m.errors}${m.dropped > 0 ? ` (+${m.dropped} not sent)` : ""}`]);
      }
      const g = results.get(key(rate, op, "gateway (dapr)"))!;
      ctx.ratios.set(`W3 ${rate}/s ${OP_NAME[op]} daprd-direct/gateway p50`, direct.latency.percentile(50) / g.latency.percentile(50));
      ctx.ratios.set(`W3 ${rate}/s ${OP_NAME[op]} daprd-direct/gateway p99`, direct.latency.percentile(99) / g.latency.percentile(99));
      if (rate === 1000) {
        // No answered call at all is a failed goal, not a missing figure.
        const none = g.latency.count === 0 ? `no call answered in time (${g.errors} failed: ${g.errorSample ?? "?"})` : undefined;
        // The peer's figure beside ours: what a thin grpc-js gateway adds on the same machine.
        const peer = results.get(key(rate, op, "grpc-js gateway"))!;
        for (const [p, limitMs] of [[50, 0.5], [99, 1.7]] as const) {
          goals.push({
            text: `${OP_NAME[op]} at 1,000/s: at most +${limitMs} ms p${p} over daprd direct`,
            met: none === undefined && over(g, p) <= limitMs * 1000,
            detail: none ?? `${signedMs(over(g, p))} ms (grpc-js gateway ${signedMs(over(peer, p))} ms)`,
          });
        }
      }
    }
  }
  const sat = saturationReport(saturation);
  for (const [name, value] of sat.ratios) ctx.ratios.set(name, value);
  goals.push(...sat.goals);
  const plot = ctx.writePlot(
    "w3-getstate-latency.svg",
    lineChart({
      title: "W3 GetState at 1,000 calls/s: latency distribution",
      x: { label: "percentile", log: true, format: xToPercentileLabel, ticks: [2, 10, 100, 1000, 10000] },
      y: { label: "latency (ms)", log: true },
      series: TARGETS.map((t) => ({ name: t, points: PERCENTILES.map((p) => [percentileToX(p), results.get(key(1000, "get", t))!.latency.percentile(p) / 1000] as const) })),
    }),
  );
  return {
    id: "W3",
    title: "unary state",
    what,
    tables: [{ header: ["rate", "call", "target", "achieved calls/s", "p50 ms", "p99 ms", "p99.9 ms", "server CPU/call", "over daprd direct (p50 / p99 ms)", "errors"], rows }, sat.table],
    goals,
    notes: [
      ...sat.notes,
      "Server CPU per call: the gateway's and daprd's CPU-seconds together for the gateway on daprd, daprd's alone for daprd direct; Redis's own CPU is not counted (it is the machine's shared server). daprd is not pinned (a multi-threaded Go process sharing the server side with the gateway).",
      "The gateway logs one line per RPC at its default level (info), as users run it; that cost is part of its figures.",
      "SaveState runs before GetState at each rate, so every target reads keys it wrote itself. daprd direct uses keys \`<service>-<key>\` (daprd refuses \`||\` in a key it is given).",
      "SaveState through the gateway does more than daprd's SaveState: it keeps the service's key index and publishes a state-change event.",
      "grpc-js gateway: bench/baselines/grpc-js-gateway.ts (the saturation baseline below) at the same fixed rates, pinned like the gateway: one daprd call per RPC, no key index, no state-change event, no logging. Its distance from daprd direct is what one more Node process in the path costs on this machine; its SaveState is a bare value write, so only its GetState is the same work as the gateway's.",
      `Open loop: ${ctx.quick ? "1.5" : "5"} s per point after ${ctx.quick ? "0.5" : "1.5"} s of warm-up; a call not sent because 4,000 were already in flight is counted as "not sent".`,
    ],
    plots: [{ file: plot, title: "W3 GetState latency at 1,000 calls/s" }],
  };
}

/** A latency difference in microseconds, as signed milliseconds: 670 -> "+0.670", -120 -> "-0.120". */
function signedMs(us: number): string {
  return `${us < 0 ? "-" : "+"}${formatMs(Math.abs(us))}`;
}

// ---------------------------------------------------------------------------------------------
// Saturation against a grpc-js gateway on the same daprd
// ---------------------------------------------------------------------------------------------

type SatTarget = "gateway (dapr)" | "grpc-js gateway";
const SAT_TARGETS: readonly SatTarget[] = ["gateway (dapr)", "grpc-js gateway"];

/** Closed loop: this many calls always in flight over the 16 connections, enough to saturate either server. */
export const SATURATION_CONCURRENCY = 128;

interface Saturation {
  readonly rounds: number;
  /** Per op and target, one measurement per round (interleaved gateway, baseline, gateway...). */
  readonly runs: ReadonlyMap<string, readonly UnaryMeasurement[]>;
}

const satKey = (op: Op, t: SatTarget) => `${op} ${t}`;

/**
 * The gateway on daprd against bench/baselines/grpc-js-gateway.ts on the same daprd, closed loop,
 * SaveState then GetState, the two servers interleaved per round so drift hits both alike.
 */
async function measureSaturation(ctx: BenchContext, gateway: ServerTarget, baseline: ServerTarget, daprdStats: () => ReturnType<ServerTarget["stats"]>): Promise<Saturation> {
  const rounds = ctx.quick ? 1 : 3;
  // Quick mode keeps the whole smoke run under 2 minutes: one short window per server.
  const durationMs = ctx.quick ? 1000 : 4000;
  const warmupMs = ctx.quick ? 300 : 1000;
  const runs = new Map<string, UnaryMeasurement[]>();
  const servers: Record<SatTarget, ServerTarget> = { "gateway (dapr)": gateway, "grpc-js gateway": baseline };
  for (const op of ["save", "get"] as const) {
    for (let round = 0; round < rounds; round++) {
      for (const t of SAT_TARGETS) {
        const server = servers[t];
        const m = await measureUnary(ctx, {
          tag: "W3",
          label: `saturation ${OP_NAME[op]} ${t}${rounds > 1 ? ` (round ${round + 1}/${rounds})` : ""}`,
          cmd: "unary",
          args: unaryArgs(ctx, { port: server.port, target: "gateway", op, mode: "closed", concurrency: SATURATION_CONCURRENCY, warmupMs, durationMs }),
          servers: [server.stats, daprdStats],
        });
        const list = runs.get(satKey(op, t)) ?? [];
        list.push(m);
        runs.set(satKey(op, t), list);
      }
    }
  }
  return { rounds, runs };
}

/** The round whose achieved rate is the median one (its latency and CPU go in the table). */
function medianRun(list: readonly UnaryMeasurement[]): UnaryMeasurement {
  const m = median(list.map((r) => r.rate));
  return list.reduce((best, r) => (Math.abs(r.rate - m) < Math.abs(best.rate - m) ? r : best));
}

function saturationReport(s: Saturation | undefined): { table: { caption: string; header: string[]; rows: string[][] }; goals: { text: string; met: boolean | undefined; detail: string }[]; ratios: [string, number][]; notes: string[] } {
  const caption = `Saturation on daprd: closed loop, ${SATURATION_CONCURRENCY} calls in flight over 16 connections`;
  const header = ["call", "server", "calls/s (median)", "rounds (calls/s)", "p50 ms", "p99 ms", "server + daprd CPU/call", "gateway / grpc-js gateway", "errors"];
  const goalText = "GetState saturation at least 0.5x a grpc-js gateway doing the same backend call";
  if (s === undefined) {
    return { table: { caption, header, rows: [] }, goals: [{ text: goalText, met: undefined, detail: "not measured" }], ratios: [], notes: [] };
  }
  const rows: string[][] = [];
  const ratios: [string, number][] = [];
  const goals: { text: string; met: boolean | undefined; detail: string }[] = [];
  for (const op of ["get", "save"] as const) {
    const gw = s.runs.get(satKey(op, "gateway (dapr)")) ?? [];
    const base = s.runs.get(satKey(op, "grpc-js gateway")) ?? [];
    if (gw.length === 0 || base.length === 0) continue;
    const ratio = median(gw.map((r) => r.rate)) / median(base.map((r) => r.rate));
    ratios.push([`W3 saturation ${OP_NAME[op]} gateway/grpc-js-gateway calls/s`, ratio]);
    for (const [t, list] of [["gateway (dapr)", gw], ["grpc-js gateway", base]] as const) {
      const m = medianRun(list);
      const errors = list.reduce((n, r) => n + r.errors, 0);
      rows.push([
        OP_NAME[op],
        t,
        formatInt(median(list.map((r) => r.rate))),
        list.map((r) => formatInt(r.rate)).join(", "),
        formatMs(m.latency.percentile(50)),
        formatMs(m.latency.percentile(99)),
        formatCpuPerMsg(m.cpuPerCall),
        t === "gateway (dapr)" ? `${ratio.toFixed(2)}x` : "1.00x",
        `${errors}${errors > 0 ? ` (${list.find((r) => r.errorSample !== undefined)?.errorSample ?? "?"})` : ""}`,
      ]);
    }
    const gwErrors = gw.reduce((n, r) => n + r.errors, 0);
    const detail = `${ratio.toFixed(2)}x (${formatInt(median(gw.map((r) => r.rate)))} vs ${formatInt(median(base.map((r) => r.rate)))} calls/s${gwErrors > 0 ? `, ${gwErrors} gateway errors` : ""})`;
    if (op === "get") goals.push({ text: goalText, met: gwErrors === 0 && ratio >= 0.5, detail });
    else goals.push({ text: "SaveState saturation at least 0.5x a grpc-js gateway (which only saves the value: the gateway also keeps the key index)", met: gwErrors === 0 && ratio >= 0.5, detail });
  }
  const notes = [
    `Saturation: the gateway on daprd against bench/baselines/grpc-js-gateway.ts, a @grpc/grpc-js server for virtufin.api.v1.State GetState/SaveState (protobuf-es messages from gen/) whose handlers make the same call to the same daprd with a grpc-js client (one channel), with the gateway's key layout. Closed loop, ${SATURATION_CONCURRENCY} calls in flight, ${s.rounds === 1 ? "one window per server" : `${s.rounds} rounds per server, interleaved; the median round is shown`}. Both servers are pinned to the server core; daprd is not.`,
    "GetState is the same backend call on both sides (one daprd GetState). SaveState is not: the baseline makes one daprd SaveState, the gateway also adds the key to the service's key index (a batched read and conditional write of the index, around the value's SaveState), so the SaveState ratio measures the index's cost as well.",
  ];
  return { table: { caption, header, rows}, goals, ratios, notes };
}
