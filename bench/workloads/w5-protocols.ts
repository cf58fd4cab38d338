/**
 * W5 protocol parity: the W1 fan-out at N = 1,000 and unary GetState through gRPC, gRPC-Web and
 * Connect (binary protobuf, HTTP/2), against the gateway's own gRPC path in the same run.
 */
import { median } from "../lib/histogram.js";
import { formatCpuPerMsg, formatInt, formatMs, formatRatio } from "../lib/progress.js";
import type { WorkloadReport } from "../lib/report.js";
import { lineChart, percentileToX, xToPercentileLabel } from "../lib/svg.js";
import { startGateway } from "../lib/targets.js";
import { PROTOCOLS, type Protocol } from "../lib/wire.js";
import { measureFanout, type BenchContext, type FanoutMeasurement } from "./context.js";
import { measureUnary, unaryArgs, type UnaryMeasurement } from "./unary.js";
import { PERCENTILES } from "./w1-fanout.js";

export async function runW5(ctx: BenchContext): Promise<WorkloadReport> {
  const gateway = await startGateway(ctx.pinning, { backend: "embedded", service: ctx.service });
  const fan = new Map<Protocol, FanoutMeasurement>();
  const unary = new Map<Protocol, UnaryMeasurement[]>();
  const unaryMs = ctx.quick ? 1000 : 3000;
  try {
    // A fresh gateway's first fan-out runs partly unoptimised code; warm it up untimed, so the
    // protocol measured first is not penalised.
    await measureFanout(ctx, gateway, { tag: "W5", label: "JIT warm-up (not counted)", n: 1000, timing: { warmupMs: ctx.quick ? 800 : 2000, measureMs: 200, repeats: 1 } });
    for (const protocol of PROTOCOLS) fan.set(protocol, await measureFanout(ctx, gateway, { tag: "W5", label: `fan-out N=1000 ${protocol}`, n: 1000, protocol }));
    // Seed the keys GetState reads.
    await measureUnary(ctx, { tag: "W5", label: "seeding keys (SaveState)", cmd: "unary", args: unaryArgs(ctx, { port: gateway.port, target: "gateway", op: "save", mode: "closed", concurrency: 16, warmupMs: 0, durationMs: 300 }) });
    const repeats = ctx.quick ? 1 : 3;
    for (let r = 1; r <= repeats; r++) {
      for (const protocol of PROTOCOLS) {
        const m = await measureUnary(ctx, {
          tag: "W5",
          label: `GetState ${protocol} closed-loop (32 in flight) run ${r}/${repeats}`,
          cmd: "unary",
          args: unaryArgs(ctx, { port: gateway.port, target: "gateway", protocol, op: "get", mode: "closed", concurrency: 32, warmupMs: ctx.quick ? 300 : 1000, durationMs: unaryMs }),
          servers: [gateway.stats],
        });
        unary.set(protocol, [...(unary.get(protocol) ?? []), m]);
      }
    }
  } finally {
    await gateway.stop();
  }
  const uRate = (p: Protocol) => median(unary.get(p)!.map((m) => m.rate));
  const uP99 = (p: Protocol) => median(unary.get(p)!.map((m) => m.latency.percentile(99)));
  const fanRows = PROTOCOLS.map((p) => {
    const m = fan.get(p)!;
    return [p, formatInt(m.rate), formatMs(m.latency.percentile(50)), formatMs(m.latency.percentile(99)), formatCpuPerMsg(m.cpuPerMsg), `${m.frameBytes} B`, p === "grpc" ? "-" : formatRatio(m.rate / fan.get("grpc")!.rate), `${m.lost}`];
  });
  const unaryRows = PROTOCOLS.map((p) => {
    const ms = unary.get(p)!;
    return [p, formatInt(uRate(p)), formatMs(median(ms.map((m) => m.latency.percentile(50)))), formatMs(uP99(p)), formatMs(median(ms.map((m) => m.latency.percentile(99.9)))), formatCpuPerMsg(median(ms.map((m) => m.cpuPerCall))), p === "grpc" ? "-" : formatRatio(uRate(p) / uRate("grpc")), p === "grpc" ? "-" : formatRatio(uP99(p) / uP99("grpc")), `${ms.reduce((n, m) => n + m.errors, 0)}`];
  });
  const goals = [];
  for (const p of ["grpc-web", "connect"] as const) {
    const fr = fan.get(p)!.rate / fan.get("grpc")!.rate;
    const ur = uRate(p) / uRate("grpc");
    const pr = uP99(p) / uP99("grpc");
    ctx.ratios.set(`W5 fan-out ${p}/grpc msgs/s`, fr);
    ctx.ratios.set(`W5 unary ${p}/grpc calls/s`, ur);
    ctx.ratios.set(`W5 unary grpc/${p} p99`, 1 / pr);
    goals.push({ text: `${p} at least 0.8x gRPC (fan-out and unary rate)`, met: fr >= 0.8 && ur >= 0.8, detail: `fan-out ${formatRatio(fr)}, unary ${formatRatio(ur)}` });
    goals.push({ text: `${p} unary p99 within 1.25x of gRPC`, met: pr <= 1.25, detail: formatRatio(pr) });
  }
  const plot = ctx.writePlot(
    "w5-unary-latency.svg",
    lineChart({
      title: "W5 GetState latency by protocol (closed loop, 32 in flight)",
      x: { label: "percentile", log: true, format: xToPercentileLabel, ticks: [2, 10, 100, 1000, 10000] },
      y: { label: "latency (ms)", log: true },
      series: PROTOCOLS.map((p) => ({ name: p, points: PERCENTILES.map((q) => [percentileToX(q), unary.get(p)![0]!.latency.percentile(q) / 1000] as const) })),
    }),
  );
  return {
    id: "W5",
    title: "protocol parity",
    what: "The W1 fan-out at N = 1,000 and unary GetState (200-byte values, 16 HTTP/2 connections), through gRPC, gRPC-Web and Connect (binary protobuf over HTTP/2), against the gateway's own gRPC path. Embedded backend.",
    tables: [
      { caption: "Fan-out, N = 1,000", header: ["protocol", "delivered msgs/s", "p50 ms", "p99 ms", "server CPU/msg", "frame", "this / gRPC", "streams lost"], rows: fanRows },
      { caption: `Unary GetState, closed loop with 32 calls in flight (median of ${ctx.quick ? 1 : 3} runs)`, header: ["protocol", "calls/s", "p50 ms", "p99 ms", "p99.9 ms", "server CPU/call", "rate / gRPC", "p99 / gRPC", "errors"], rows: unaryRows },
    ],
    goals,
    notes: ["gRPC-Web and Connect streams use the same 5-byte envelope; the client sends `application/grpc-web+proto` (with `x-grpc-web: 1`) or `application/connect+proto` (with `connect-protocol-version: 1`), and Connect unary sends the bare message as `application/proto`."],
    plots: [{ file: plot, title: "W5 unary latency by protocol" }],
  };
}
