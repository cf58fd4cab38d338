/**
 * A real Dapr sidecar (daprd, built by `bash tools/daprd/build.sh`) for tests of the Dapr backend.
 *
 * - `daprdGate()` / `requireDaprd()`: the project's skip rule. Without the binary a test SKIPS with
 *   a printed reason, except on CI (`CI=true`), where a missing binary is an error (CI must fail,
 *   never skip).
 * - `startDaprd()`: spawns daprd directly with the flags of scripts/daprd-local.sh (standalone, no
 *   placement/scheduler, no mTLS, loopback listeners, no app channel, metrics off,
 *   `--config deploy/dapr/config.yaml`, `DAPR_HOST_IP=127.0.0.1`) on free ports it picks itself,
 *   with a temporary resources dir holding `statestore` (state.redis) and `pubsub` (Redis Streams
 *   or NATS JetStream) made from the shipped component files, and waits for `/v1.0/healthz` = 204.
 *
 * No daprd outlives the test process: a process 'exit' handler (and SIGINT/SIGTERM handlers while
 * a daprd runs) SIGKILLs every daprd this module started and removes its temp dir.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEFAULT_BIN = join(ROOT, "tools/daprd/bin/daprd");
const CONFIG = join(ROOT, "deploy/dapr/config.yaml");
const COMPONENTS = join(ROOT, "deploy/dapr/components");
const BUILD_HINT = "run bash tools/daprd/build.sh";

/** Bytes of daprd output kept (the tail). */
const LOG_LIMIT = 200 * 1024;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// The binary and the skip rule
// ---------------------------------------------------------------------------------------------

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `DAPRD_BIN` if set (and executable), else tools/daprd/bin/daprd if executable, else undefined. */
export function daprdBinary(): string | undefined {
  const fromEnv = process.env["DAPRD_BIN"];
  if (fromEnv !== undefined && fromEnv !== "") return isExecutable(fromEnv) ? fromEnv : undefined;
  return isExecutable(DEFAULT_BIN) ? DEFAULT_BIN : undefined;
}

export interface DaprdGate {
  /** The binary to run, when there is one. */
  readonly binary: string | undefined;
  /** `false` when daprd is available; otherwise the reason to skip (for `describe(name, { skip })`). */
  readonly skip: string | false;
}

/** The part of node:test's TestContext that `requireDaprd` uses. */
export interface SkippableContext {
  skip(message?: string): void;
}

let reasonPrinted = false;

function missingReason(): string {
  const fromEnv = process.env["DAPRD_BIN"];
  return fromEnv !== undefined && fromEnv !== ""
    ? `daprd not found or not executable at DAPRD_BIN=${fromEnv}: ${BUILD_HINT} or fix DAPRD_BIN`
    : `daprd not built (${DEFAULT_BIN} missing): ${BUILD_HINT}`;
}

/**
 * The skip rule. daprd present → `{ skip: false }`. Missing and `CI !== "true"` → `{ skip: reason }`,
 * the reason printed once per process (and `t.skip(reason)` called when a test context is given).
 * Missing and `CI === "true"` → throws: CI must fail, never skip.
 */
export function requireDaprd(t?: SkippableContext): DaprdGate {
  const binary = daprdBinary();
  if (binary !== undefined) return { binary, skip: false };
  const reason = missingReason();
  if (process.env["CI"] === "true") {
    throw new Error(`${reason} (CI=true: the Dapr tests must run on CI, not skip)`);
  }
  if (!reasonPrinted) {
    reasonPrinted = true;
    console.log(`# skipping Dapr sidecar tests: ${reason}`);
  }
  t?.skip(reason);
  return { binary: undefined, skip: reason };
}

/** `const gate = daprdGate(); describe("...", { skip: gate.skip }, () => { ... })`. */
export function daprdGate(): DaprdGate {
  return requireDaprd();
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/**
 * `count` distinct free TCP ports on 127.0.0.1: all are held open at once (so they differ), then
 * closed for daprd to take. Another process can grab one in between; startDaprd retries that once.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer();
          srv.once("error", reject);
          srv.listen(0, "127.0.0.1", () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === "string") throw new Error("unexpected server address");
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

// ---------------------------------------------------------------------------------------------
// Components
// ---------------------------------------------------------------------------------------------

export type DaprdPubsub = "redis" | "jetstream";

export interface DaprdOptions {
  /** `--app-id`; the Redis pub/sub consumer group is this id (`consumerID: "{appID}"`). Make it run-unique. */
  appId: string;
  /** Which component the `pubsub` component is: pubsub.redis or pubsub.jetstream. */
  pubsub: DaprdPubsub;
  /** The statestore's `keyPrefix` metadata (default `none`, as shipped: keys are stored verbatim). */
  keyPrefix?: string;
  /** `--log-level` (default info). */
  logLevel?: "debug" | "info" | "warn" | "error";
  /** Extra daprd flags, appended last. */
  extraArgs?: readonly string[];
  /** How long to wait for healthz (default 30 000 ms). */
  readyTimeoutMs?: number;
}

function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  if (!pattern.test(text)) throw new Error(`daprd fixture: shipped component file changed shape (${what} not found)`);
  return text.replace(pattern, replacement);
}

/** The YAML of the two components, made from deploy/dapr/components/*.yaml. */
export function componentFiles(options: Pick<DaprdOptions, "pubsub" | "keyPrefix">): Record<string, string> {
  let statestore = readFileSync(join(COMPONENTS, "statestore.yaml"), "utf8");
  if (options.keyPrefix !== undefined) {
    statestore = replaceOnce(
      statestore,
      /(- name: keyPrefix\s*\n\s*value: )"none"/,
      `$1${JSON.stringify(options.keyPrefix)}`,
      'keyPrefix value "none"',
    );
  }
  let pubsub: string;
  if (options.pubsub === "redis") {
    pubsub = readFileSync(join(COMPONENTS, "pubsub-redis.yaml"), "utf8");
    if (!/\n {2}name: pubsub\n/.test(pubsub)) {
      throw new Error("daprd fixture: shipped component file changed shape (pubsub-redis.yaml: metadata.name pubsub not found)");
    }
  } else {
    pubsub = replaceOnce(
      readFileSync(join(COMPONENTS, "pubsub-jetstream.yaml"), "utf8"),
      /\n {2}name: pubsub-jetstream\n/,
      "\n  name: pubsub\n",
      "metadata.name pubsub-jetstream",
    );
  }
  return { "statestore.yaml": statestore, "pubsub.yaml": pubsub };
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: never leak a daprd
// ---------------------------------------------------------------------------------------------

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function killAllNow(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  tempDirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killAllNow();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  // Die of the same signal, as if no handler had been installed (unless someone else handles it).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", killAllNow);
  }
  if (live.size === 0) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  live.add(child);
  child.once("exit", () => {
    live.delete(child);
    if (live.size === 0) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// startDaprd
// ---------------------------------------------------------------------------------------------

export interface Daprd {
  readonly appId: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly internalGrpcPort: number;
  /** `http://127.0.0.1:<httpPort>` */
  readonly httpUrl: string;
  /** PID of the current daprd process (changes on restart()). */
  readonly pid: number;
  /** Whether the current daprd process is still running. */
  readonly running: boolean;
  /** Milliseconds from spawn to the first healthz 204, for the latest (re)start. */
  readonly readyMs: number;
  /** The temp resources dir with statestore.yaml and pubsub.yaml. */
  readonly componentsDir: string;
  /** The argv daprd was started with (without the binary). */
  readonly args: readonly string[];
  /** The captured stdout+stderr of every start so far (the last ~200 KB). */
  log(): string;
  /** Sends a signal (default SIGKILL) and resolves once daprd has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts daprd again on the same ports with the same components (stopping it first if running). */
  restart(): Promise<void>;
  /** SIGTERM, SIGKILL after 5 s, then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

class LogBuffer {
  private text = "";
  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > LOG_LIMIT + 64 * 1024) this.text = this.text.slice(-LOG_LIMIT);
  }
  get(): string {
    return this.text.length > LOG_LIMIT ? this.text.slice(-LOG_LIMIT) : this.text;
  }
  tail(chars = 6000): string {
    return this.text.slice(-chars);
  }
}

const PORT_IN_USE = /address already in use|could not listen on any endpoint/i;

class PortInUseError extends Error {}

interface Instance {
  child: ChildProcess;
  exited: Promise<void>;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  done: boolean;
}

function spawnInstance(binary: string, args: readonly string[], log: LogBuffer): Instance {
  const child = spawn(binary, args, {
    cwd: ROOT,
    env: { ...process.env, DAPR_HOST_IP: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const inst: Instance = { child, exited: Promise.resolve(), exitCode: null, exitSignal: null, done: false };
  inst.exited = new Promise<void>((resolve) => {
    child.once("error", (err) => {
      log.append(`\n[fixture] spawn error: ${err.message}\n`);
      inst.done = true;
      resolve();
    });
    child.once("exit", (code, signal) => {
      inst.exitCode = code;
      inst.exitSignal = signal;
      inst.done = true;
      resolve();
    });
  });
  child.stdout?.setEncoding("utf8").on("data", (d: string) => log.append(d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => log.append(d));
  if (child.pid !== undefined) track(child);
  return inst;
}

async function healthz(httpPort: number): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/v1.0/healthz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  } catch {
    return undefined;
  }
}

/** The app id of whatever daprd answers on `httpPort` (guards against a port taken by another daprd). */
async function metadataId(httpPort: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/v1.0/metadata`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { id?: unknown };
    return typeof body.id === "string" ? body.id : undefined;
  } catch {
    return undefined;
  }
}

async function waitReady(
  inst: Instance,
  httpPort: number,
  appId: string,
  timeoutMs: number,
  log: LogBuffer,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastStatus: number | undefined;
  for (;;) {
    if (inst.done) {
      const tail = log.tail();
      const how = inst.exitSignal !== null ? `signal ${inst.exitSignal}` : `code ${inst.exitCode}`;
      const msg = `${what}: daprd exited (${how}) before healthz answered 204\n--- daprd log tail ---\n${tail}`;
      throw PORT_IN_USE.test(tail.split("[fixture] start").pop() ?? "") ? new PortInUseError(msg) : new Error(msg);
    }
    lastStatus = await healthz(httpPort);
    if (lastStatus === 204 && !inst.done && (await metadataId(httpPort)) === appId) return;
    if (Date.now() >= deadline) {
      const msg = `${what}: GET http://127.0.0.1:${httpPort}/v1.0/healthz did not answer 204 within ${timeoutMs} ms (last: ${
        lastStatus ?? "no answer"
      })\n--- daprd log tail ---\n${log.tail()}`;
      inst.child.kill("SIGKILL");
      await inst.exited;
      throw new Error(msg);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function terminate(inst: Instance, graceMs: number): Promise<void> {
  if (inst.done) return;
  inst.child.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (!inst.done) inst.child.kill("SIGKILL");
  }, graceMs);
  try {
    await inst.exited;
  } finally {
    clearTimeout(timer);
  }
}

function daprdArgs(o: DaprdOptions, ports: { grpc: number; http: number; internal: number }, dir: string): string[] {
  return [
    "--mode", "standalone",
    "--app-id", o.appId,
    "--dapr-grpc-port", String(ports.grpc),
    "--dapr-http-port", String(ports.http),
    "--dapr-internal-grpc-port", String(ports.internal),
    "--dapr-listen-addresses", "127.0.0.1",
    "--dapr-internal-grpc-listen-address", "127.0.0.1",
    "--resources-path", dir,
    "--log-level", o.logLevel ?? "info",
    "--placement-host-address", "",
    "--scheduler-host-address", "",
    "--enable-mtls=false",
    "--config", CONFIG,
    "--enable-metrics=false",
    ...(o.extraArgs ?? []),
  ];
}

/**
 * Starts daprd on free loopback ports with a temp resources dir (`statestore` + `pubsub`), and
 * resolves once `/v1.0/healthz` answers 204 (≤ 30 s; otherwise rejects with daprd's log tail).
 * If daprd fails because a port was taken in between, it retries once on new ports.
 */
export async function startDaprd(options: DaprdOptions): Promise<Daprd> {
  const binary = requireDaprd().binary;
  if (binary === undefined) throw new Error(`startDaprd: ${missingReason()}`);
  const timeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;

  const dir = mkdtempSync(join(tmpdir(), `daprd-${options.appId.replace(/[^A-Za-z0-9_.-]/g, "_")}-`));
  tempDirs.add(dir);
  for (const [name, text] of Object.entries(componentFiles(options))) writeFileSync(join(dir, name), text);

  const log = new LogBuffer();
  let inst: Instance | undefined;
  let ports = { grpc: 0, http: 0, internal: 0 };
  let args: string[] = [];
  let readyMs = 0;

  const launch = async (what: string): Promise<void> => {
    log.append(`\n[fixture] start ${new Date().toISOString()} ${what}: daprd ${args.join(" ")}\n`);
    const t0 = performance.now();
    inst = spawnInstance(binary, args, log);
    await waitReady(inst, ports.http, options.appId, timeoutMs, log, `${what} (app-id ${options.appId})`);
    readyMs = Math.round(performance.now() - t0);
  };

  try {
    for (let attempt = 1; ; attempt++) {
      const [grpc, http, internal] = (await freePorts(3)) as [number, number, number];
      ports = { grpc, http, internal };
      args = daprdArgs(options, ports, dir);
      try {
        await launch(attempt === 1 ? "startDaprd" : "startDaprd (retry after a port clash)");
        break;
      } catch (err) {
        if (!(err instanceof PortInUseError) || attempt >= 2) throw err;
      }
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
    throw err;
  }

  let stopped = false;
  const current = (): Instance => {
    if (inst === undefined) throw new Error("daprd fixture: no instance");
    return inst;
  };

  const daprd: Daprd = {
    appId: options.appId,
    grpcPort: ports.grpc,
    httpPort: ports.http,
    internalGrpcPort: ports.internal,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    componentsDir: dir,
    args,
    get pid() {
      return current().child.pid ?? -1;
    },
    get running() {
      return !current().done;
    },
    get readyMs() {
      return readyMs;
    },
    log: () => log.get(),
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      const i = current();
      if (i.done) return;
      i.child.kill(signal);
      await i.exited;
    },
    async restart() {
      if (stopped) throw new Error("daprd fixture: restart() after stop()");
      await terminate(current(), STOP_GRACE_MS);
      // Same ports: if one is briefly still taken, try again for a few seconds.
      for (let attempt = 1; ; attempt++) {
        try {
          await launch("restart");
          return;
        } catch (err) {
          if (!(err instanceof PortInUseError) || attempt >= 10) throw err;
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (inst !== undefined) await terminate(inst, STOP_GRACE_MS);
      rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
  return daprd;
}
