/**
 * W6 machine probes, first in every run: redis-benchmark (SET/GET, 200-byte values, 50 clients),
 * a core NATS publish probe with nats.js, and the raw node:http2 fan-out floor at N = 1,000. Each
 * probe runs three times: the run counts only when every probe is within 15 % of its median (the
 * machine is steady), and each probe's median is compared with the median of earlier runs on the
 * same CPU model in bench/history.json (the machine is the one it was).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { median, spreadFromMedian } from "../lib/histogram.js";
import { machineInfo } from "../lib/machine.js";
import { ROOT } from "../lib/proc.js";
import { formatInt } from "../lib/progress.js";
import type { WorkloadReport } from "../lib/report.js";
import { startBaseline } from "../lib/targets.js";
import type { BenchContext } from "./context.js";

export const STABILITY_LIMIT = 0.15;
const HISTORY = join(ROOT, "bench/history.json");
const HISTORY_KEEP = 50;

export interface ProbeOutcome {
  readonly report: WorkloadReport;
  readonly stable: boolean;
  readonly verdict: string;
}

interface HistoryEntry {
  date: string;
  cpuModel: string;
  mode: "quick" | "full";
  probes: Record<string, number>;
}

/** Parses `redis-benchmark -q` output: {"SET": 81234.5, "GET": 90000}. */
export function parseRedisBenchmark(output: string): Record<string, number> {
  const rates: Record<string, number> = {};
  for (const m of output.matchAll(/^\s*([A-Z_]+):\s*([\d.]+)\s+requests per second/gm)) rates[m[1] as string] = Number(m[2]);
  // redis-benchmark -q rewrites its line with \r; the last value per name wins, which is the final one.
  return rates;
}

/** Which probes moved more than `limit` from the median of earlier runs (names with the relative change). */
export function compareWithHistory(current: Record<string, number>, earlier: readonly Record<string, number>[], limit = STABILITY_LIMIT): { name: string; change: number }[] {
  const moved: { name: string; change: number }[] = [];
  for (const [name, value] of Object.entries(current)) {
    const past = earlier.map((e) => e[name]).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
    if (past.length === 0) continue;
    const m = median(past);
    const change = (value - m) / m;
    if (Math.abs(change) > limit) moved.push({ name, change });
  }
  return moved;
}

function redisBenchmark(requests: number): { rates: Record<string, number> } | { skip: string } {
  const which = spawnSync("which", ["redis-benchmark"], { encoding: "utf8" });
  if (which.status !== 0) return { skip: "redis-benchmark is not installed (apt-get install -y redis-tools)" };
  // Without -r redis-benchmark writes the one key "key:__rand_int__" (removed afterwards if it is ours).
  const r = spawnSync("redis-benchmark", ["-h", "127.0.0.1", "-p", "6379", "-d", "200", "-c", "50", "-n", String(requests), "-t", "set,get", "-q"], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) return { skip: `redis-benchmark failed: ${r.stderr || r.stdout}` };
  const rates = parseRedisBenchmark(r.stdout.replace(/\r/g, "\n"));
  if (rates["SET"] === undefined || rates["GET"] === undefined) return { skip: `redis-benchmark printed no rates: ${r.stdout.slice(0, 200)}` };
  return { rates };
}

export async function runW6(ctx: BenchContext, options: { history: boolean }): Promise<ProbeOutcome> {
  const samples: Record<string, number[]> = {};
  const add = (name: string, v: number) => (samples[name] ??= []).push(v);
  const notes: string[] = [];
  const repeats = 3;

  const probeKeyExisted = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", "6379", "EXISTS", "key:__rand_int__"], { encoding: "utf8" }).stdout?.trim() === "1";
  for (let r = 1; r <= repeats; r++) {
    const rb = redisBenchmark(ctx.quick ? 20_000 : 100_000);
    if ("skip" in rb) {
      if (r === 1) {
        notes.push(`redis-benchmark probe skipped: ${rb.skip}`);
        ctx.progress.line("W6", `redis-benchmark skipped: ${rb.skip}`);
      }
      break;
    }
    add("redis-benchmark SET req/s", rb.rates["SET"] as number);
    add("redis-benchmark GET req/s", rb.rates["GET"] as number);
    ctx.progress.line("W6", `redis-benchmark run ${r}/${repeats}: SET ${formatInt(rb.rates["SET"] as number)}/s, GET ${formatInt(rb.rates["GET"] as number)}/s`);
  }
  if (!probeKeyExisted) spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", "6379", "DEL", "key:__rand_int__"], { encoding: "utf8" });

  // One untimed round first: connection set-up and JIT warm-up otherwise land in the first run.
  await ctx.client.call("nats-publish-probe", { messages: 50_000, payloadBytes: 200 });
  for (let r = 1; r <= repeats; r++) {
    const res = await ctx.client.call<{ rate: number }>("nats-publish-probe", { messages: ctx.quick ? 100_000 : 300_000, payloadBytes: 200 });
    add("nats.js publish msgs/s", res.rate);
    ctx.progress.line("W6", `nats.js publish run ${r}/${repeats}: ${formatInt(res.rate)} msgs/s`);
  }

  const raw = await startBaseline(ctx.pinning, "raw-http2");
  try {
    await ctx.client.call("open-fanout", { port: raw.port, protocol: "grpc", n: 1000, conns: 10, service: ctx.service, topic: ctx.topic, sampleStreams: 0 });
    await ctx.client.call("prime-fanout", { timeoutMs: 10_000 });
    await ctx.client.call("start-publisher", { mode: "window", windowEvents: 50, concurrency: 8 });
    await ctx.client.call("measure-fanout", { ms: ctx.quick ? 1000 : 2000 }); // warm-up: the first windows of a fresh server run slower
    for (let r = 1; r <= repeats; r++) {
      const w = await ctx.client.call<{ delivered: number; elapsedMs: number }>("measure-fanout", { ms: ctx.quick ? 600 : 1500 });
      const rate = (w.delivered * 1000) / w.elapsedMs;
      add("raw http2 fan-out N=1000 msgs/s", rate);
      ctx.progress.line("W6", `raw http2 floor run ${r}/${repeats}: ${formatInt(rate)} msgs/s`);
    }
  } finally {
    await ctx.client.call("close-fanout").catch(() => undefined);
    await raw.stop();
  }

  const medians: Record<string, number> = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const unsteady = Object.entries(samples).filter(([, v]) => spreadFromMedian(v) > STABILITY_LIMIT);
  const cpuModel = machineInfo().cpuModel;
  const mode = ctx.quick ? "quick" : "full";
  let history: HistoryEntry[] = [];
  if (existsSync(HISTORY)) {
    try {
      history = JSON.parse(readFileSync(HISTORY, "utf8")) as HistoryEntry[];
    } catch {
      notes.push("bench/history.json could not be read; starting a new history.");
    }
  }
  const earlier = history.filter((h) => h.cpuModel === cpuModel && h.mode === mode).map((h) => h.probes);
  const moved = compareWithHistory(medians, earlier);
  if (options.history) {
    history.push({ date: new Date().toISOString(), cpuModel, mode, probes: medians });
    writeFileSync(HISTORY, `${JSON.stringify(history.slice(-HISTORY_KEEP), null, 2)}\n`);
  }
  const stable = unsteady.length === 0 && moved.length === 0;
  const parts: string[] = [];
  if (unsteady.length > 0) parts.push(`unsteady within this run: ${unsteady.map(([k, v]) => `${k} ±${Math.round(spreadFromMedian(v) * 100)} %`).join(", ")}`);
  if (moved.length > 0) parts.push(`differs from the median of ${earlier.length} earlier ${mode} runs: ${moved.map((m) => `${m.name} ${m.change > 0 ? "+" : ""}${Math.round(m.change * 100)} %`).join(", ")}`);
  const verdict = stable
    ? `steady (every probe within 15 % of its median${earlier.length > 0 ? ` and of ${earlier.length} earlier ${mode} runs` : "; no earlier runs on this CPU to compare with"})`
    : `NOT steady: ${parts.join("; ")}`;
  ctx.progress.line("W6", `machine probes: ${verdict}`);
  if (!stable) console.warn(`WARNING: machine probes ${verdict}; the figures of this run do not count.`);

  const rows = Object.entries(samples).map(([k, v]) => {
    const past = earlier.map((e) => e[k]).filter((x): x is number => typeof x === "number");
    return [k, formatInt(median(v)), v.map(formatInt).join(", "), `±${Math.round(spreadFromMedian(v) * 100)} %`, past.length > 0 ? formatInt(median(past)) : "-"];
  });
  notes.push(
    `Probe history: bench/history.json (last ${HISTORY_KEEP} runs; ${options.history ? "this run appended" : "not appended (--no-history)"}). A run counts when every probe is within ${STABILITY_LIMIT * 100} % of its own median and of the median of earlier runs on the same CPU model and mode.`,
  );
  return {
    stable,
    verdict,
    report: {
      id: "W6",
      title: "machine probes",
      what: "Run first, every run: `redis-benchmark -d 200 -c 50 -t set,get`, a core NATS publish probe (nats.js, 200-byte messages), and the raw `node:http2` fan-out floor at N = 1,000. They tell whether this machine was steady while the workloads ran.",
      tables: [{ header: ["probe", "median", "runs", "spread", "earlier runs (median)"], rows }],
      goals: [{ text: "probes within 15 % of their median", met: stable, detail: verdict }],
      notes,
      plots: [],
    },
  };
}
