/**
 * The processes a workload measures: the real gateway started the way users start it (dist/src/main.js
 * with CLI flags), the baseline servers of bench/baselines/, and the load generator. Servers are
 * pinned to the server core, the load generator to the client core.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureOutput, IpcChild, procStats, ROOT, spawnNode, stopChild, type Pinning, type ProcStats } from "./proc.js";

export interface ServerTarget {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  stats(): ProcStats;
  /** RSS and V8 heap in use right after two forced full collections (bench/lib/gc-probe.mjs). */
  memoryAfterGc(): Promise<MemoryAfterGc>;
  output(): string;
  stop(): Promise<void>;
}

/** Memory after forced collections: the reading with the lowest RSS, and every RSS seen while settling. */
export interface MemoryAfterGc {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly rssSeenBytes: readonly number[];
}

export interface GatewayOptions {
  readonly backend: "embedded" | "dapr";
  /** The run's one service (a services.json is written for it, so keys and topics are run-unique). */
  readonly service: string;
  readonly extraArgs?: readonly string[];
  readonly nodeArgs?: readonly string[];
  /** How long the GC probe lets the server idle before reporting memory (bench/lib/gc-probe.mjs). */
  readonly gcSettleMs?: number;
}

/**
 * Starts the built gateway as `npm start` does (`node --enable-source-maps --import
 * dist/src/observability/telemetry-preload.js dist/src/main.js`; bench/run.ts builds first), pinned
 * to the server core; resolves once it logged its port.
 */
export async function startGateway(pinning: Pinning, options: GatewayOptions): Promise<ServerTarget> {
  const dir = mkdtempSync(join(tmpdir(), "vf-bench-"));
  const servicesFile = join(dir, "services.json");
  writeFileSync(servicesFile, JSON.stringify({ services: [{ name: options.service, topics: [] }] }));
  const child = spawnNode(
    join(ROOT, "dist/src/main.js"),
    [
      "--host", "127.0.0.1",
      "--http-port", "0",
      "--data-dir", join(dir, "data"),
      "--services-file", servicesFile,
      "--backend", options.backend,
      ...(options.extraArgs ?? []),
    ],
    {
      pinning,
      role: "server",
      tsx: false,
      nodeArgs: ["--enable-source-maps", ...GC_PROBE_ARGS, "--import", join(ROOT, "dist/src/observability/telemetry-preload.js"), ...(options.nodeArgs ?? [])],
      env: gcProbeEnv(options.gcSettleMs),
    },
  );
  const output = captureOutput(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start within 60 s:\n${output()}`)), 60_000);
    let seen = "";
    const onData = (d: Buffer) => {
      seen += d.toString();
      const m = /"port":(\d+)[^\n]*listening/.exec(seen);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before listening:\n${output()}`));
    });
  });
  const pid = child.pid ?? -1;
  return {
    name: `gateway (${options.backend})`,
    pid,
    port,
    stats: () => procStats(pid),
    memoryAfterGc: () => memoryAfterGc(child, options.gcSettleMs),
    output,
    async stop() {
      await stopChild(child, 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every server W2 measures loads the GC probe, so "after GC" means the same for all of them. */
const GC_PROBE_ARGS = ["--expose-gc", "--import", join(ROOT, "bench/lib/gc-probe.mjs")];

function gcProbeEnv(settleMs: number | undefined): Record<string, string> {
  return settleMs === undefined ? {} : { GCPROBE_SETTLE_MS: String(settleMs) };
}

/** Signals the server's GC probe and waits for the line it writes on stderr. */
function memoryAfterGc(child: ChildProcess, settleMs = 0): Promise<MemoryAfterGc> {
  return new Promise((resolve, reject) => {
    let text = "";
    const limitMs = settleMs + 15_000;
    const timer = setTimeout(() => done(new Error(`no GCPROBE line within ${limitMs / 1000} s (is bench/lib/gc-probe.mjs loaded?)`)), limitMs);
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = /GCPROBE (\{[^\n]*\})\n/.exec(text);
      if (m === null) return;
      const probe = JSON.parse(m[1] as string) as { rss: number; heapUsed: number; rssSeen?: number[]; gc: boolean };
      if (!probe.gc) done(new Error("the GC probe has no gc(): --expose-gc missing"));
      else done(undefined, { rssBytes: probe.rss, heapUsedBytes: probe.heapUsed, rssSeenBytes: probe.rssSeen ?? [probe.rss] });
    };
    const done = (err: Error | undefined, value?: MemoryAfterGc) => {
      clearTimeout(timer);
      child.stderr?.off("data", onData);
      if (err !== undefined) reject(err);
      else resolve(value as MemoryAfterGc);
    };
    child.stderr?.on("data", onData);
    child.kill("SIGUSR2");
  });
}

export type BaselineKind = "raw-http2" | "grpc-js" | "grpc-js-gateway";

const BASELINE_SCRIPTS: Record<BaselineKind, string> = {
  "raw-http2": "bench/baselines/raw-http2-fanout.ts",
  "grpc-js": "bench/baselines/grpc-js-fanout.ts",
  "grpc-js-gateway": "bench/baselines/grpc-js-gateway.ts",
};

export interface BaselineTarget extends ServerTarget {
  readonly ipc: IpcChild;
}

export async function startBaseline(
  pinning: Pinning,
  kind: BaselineKind,
  options: { templateBase64?: string | undefined; args?: readonly string[]; gcSettleMs?: number } = {},
): Promise<BaselineTarget> {
  const { templateBase64, args = [], gcSettleMs } = options;
  const child = spawnNode(join(ROOT, BASELINE_SCRIPTS[kind]), args, { pinning, role: "server", ipc: true, nodeArgs: GC_PROBE_ARGS, env: gcProbeEnv(gcSettleMs) });
  const ipc = new IpcChild(child, kind);
  const ready = await ipc.notice<{ type: string; port: number }>(60_000);
  if (templateBase64 !== undefined) await ipc.call("template", { base64: templateBase64 });
  const pid = child.pid ?? -1;
  return { name: kind, pid, port: ready.port, ipc, stats: () => procStats(pid), memoryAfterGc: () => memoryAfterGc(child, gcSettleMs), output: ipc.output, stop: () => ipc.stop() };
}

export async function startLoadClient(pinning: Pinning): Promise<IpcChild> {
  const child = spawnNode(join(ROOT, "bench/load/client.ts"), [], { pinning, role: "client", ipc: true });
  const ipc = new IpcChild(child, "load client");
  await ipc.notice(60_000);
  return ipc;
}
