/**
 * Child processes of the harness: servers and load generators run as separate processes, pinned to
 * different cores with `taskset -c` when it works, so their CPU time and memory are attributable
 * (read from /proc/<pid>/stat and /proc/<pid>/status, the same way for every server). Load
 * generators and baseline servers talk to the harness over Node's IPC channel.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux in practice). */
const CLK_TCK = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

export interface Pinning {
  /** Whether `taskset -c` works here and there are at least two cores to split. */
  readonly enabled: boolean;
  readonly serverCore: number;
  readonly clientCore: number;
  /** Why pinning is off (for the report). */
  readonly reason?: string;
}

/** Detects whether servers and load generators can be pinned to different cores. */
export function detectPinning(disabled = false): Pinning {
  if (disabled) return { enabled: false, serverCore: 0, clientCore: 0, reason: "pinning switched off (--no-pin)" };
  const probe = spawnSync("taskset", ["-c", "0", "true"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    return { enabled: false, serverCore: 0, clientCore: 0, reason: `taskset unavailable (${probe.error?.message ?? probe.stderr.trim()})` };
  }
  const n = cpus().length;
  if (n < 2) return { enabled: false, serverCore: 0, clientCore: 0, reason: `only ${n} core: nothing to split` };
  // The server gets core 0, the load generator the last core.
  return { enabled: true, serverCore: 0, clientCore: n - 1 };
}

export type Role = "server" | "client" | "none";

/**
 * The environment every measured server runs with, the gateway and its baselines alike: glibc's
 * malloc limited to two arenas, as the Dockerfile runs the gateway (ENV MALLOC_ARENA_MAX=2). With
 * the default (8 per core) the V8 GC helper threads each keep an arena whose freed memory is not
 * given back; for 10,000 idle streams that was about 15 MiB of the gateway's RSS (measured).
 */
export const SERVER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: "2" };

function pinPrefix(pinning: Pinning, role: Role): string[] {
  if (!pinning.enabled || role === "none") return [];
  return ["taskset", "-c", String(role === "server" ? pinning.serverCore : pinning.clientCore)];
}

/**
 * Spawns `node [nodeArgs] --import tsx script args` (pinned for its role), optionally with an IPC
 * channel; `tsx: false` runs built JavaScript as it is.
 */
export function spawnNode(
  script: string,
  args: readonly string[],
  options: { pinning: Pinning; role: Role; ipc?: boolean; nodeArgs?: readonly string[]; env?: Record<string, string>; tsx?: boolean },
): ChildProcess {
  const loader = options.tsx === false ? [] : ["--import", "tsx"];
  const command = [...pinPrefix(options.pinning, options.role), process.execPath, ...(options.nodeArgs ?? []), ...loader, script, ...args];
  const [bin, ...rest] = command as [string, ...string[]];
  return spawn(bin, rest, {
    cwd: ROOT,
    env: { ...process.env, ...(options.role === "server" ? SERVER_ENV : {}), ...options.env },
    stdio: options.ipc === true ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
  });
}

export interface ProcStats {
  /** user + system CPU seconds since the process started. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
}

/** CPU seconds and RSS of a live process from /proc (Linux). */
export function procStats(pid: number): ProcStats {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return { cpuSeconds: (utime + stime) / CLK_TCK, rssBytes: rssKb * 1024 };
}

/** Keeps the last `limit` characters of a child's output (for error messages). */
export function captureOutput(child: ChildProcess, limit = 20_000): () => string {
  let text = "";
  const add = (d: Buffer) => {
    text += d.toString();
    if (text.length > limit * 2) text = text.slice(-limit);
  };
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return () => text.slice(-limit);
}

/** Resolves once the child exits; SIGTERM first, SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Request/response over the IPC channel
// ---------------------------------------------------------------------------------------------

interface IpcRequest {
  readonly id: number;
  readonly cmd: string;
  readonly args: unknown;
}
interface IpcResponse {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

/** The harness side of a child that answers commands (a load generator or a baseline server). */
export class IpcChild {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly output: () => string;
  /** Messages the child sent on its own (not answers), e.g. {type: "listening", port}. */
  private readonly notices: unknown[] = [];
  private readonly noticeWaiters: ((m: unknown) => void)[] = [];

  constructor(readonly child: ChildProcess, readonly name: string) {
    this.output = captureOutput(child);
    child.on("message", (raw: unknown) => {
      const m = raw as Partial<IpcResponse> & { type?: string };
      if (typeof m.id === "number" && this.pending.has(m.id)) {
        const p = this.pending.get(m.id)!;
        this.pending.delete(m.id);
        if (m.ok === true) p.resolve(m.result);
        else p.reject(new Error(`${name}: ${m.error ?? "failed"}`));
        return;
      }
      const waiter = this.noticeWaiters.shift();
      if (waiter !== undefined) waiter(m);
      else this.notices.push(m);
    });
    child.once("exit", (code, signal) => {
      const err = new Error(`${name} exited (${signal ?? code}) with commands pending\n${this.output()}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  call<T>(cmd: string, args: unknown = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.child.exitCode !== null || !this.child.connected) {
        reject(new Error(`${this.name} is not running\n${this.output()}`));
        return;
      }
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args } satisfies IpcRequest);
    });
  }

  /** The next message the child sends on its own, within `timeoutMs`. */
  notice<T>(timeoutMs = 30_000): Promise<T> {
    const queued = this.notices.shift();
    if (queued !== undefined) return Promise.resolve(queued as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no message within ${timeoutMs} ms\n${this.output()}`)), timeoutMs);
      const onExit = () => reject(new Error(`${this.name} exited before it was ready\n${this.output()}`));
      this.child.once("exit", onExit);
      this.noticeWaiters.push((m) => {
        clearTimeout(timer);
        this.child.off("exit", onExit);
        resolve(m as T);
      });
    });
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopChild(this.child);
  }
}

/** The child side: answers the harness's commands with `handlers[cmd](args)`. */
export function serveIpc(handlers: Record<string, (args: never) => unknown>): void {
  if (process.send === undefined) throw new Error("this script runs as a child of bench/run.ts (no IPC channel)");
  process.on("message", (raw: unknown) => {
    const req = raw as IpcRequest;
    const handler = handlers[req.cmd];
    if (handler === undefined) {
      process.send?.({ id: req.id, ok: false, error: `unknown command ${req.cmd}` } satisfies IpcResponse);
      return;
    }
    Promise.resolve()
      .then(() => handler(req.args as never))
      .then(
        (result) => process.send?.({ id: req.id, ok: true, result } satisfies IpcResponse),
        (err: unknown) => process.send?.({ id: req.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies IpcResponse),
      );
  });
  // The harness going away ends the child.
  process.on("disconnect", () => process.exit(0));
}

/** Reports CPU and memory of this process (for a child to include in its answers). */
export function selfUsage(): { cpuSeconds: number; rssBytes: number } {
  const u = process.cpuUsage();
  return { cpuSeconds: (u.user + u.system) / 1e6, rssBytes: process.memoryUsage.rss() };
}
