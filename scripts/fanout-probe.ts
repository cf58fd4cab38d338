/**
 * A small fan-out probe (PERFORMANCE.md W1/W2, not the full bench harness): starts a server pinned
 * to core 0, then a load process pinned to core 1 that opens N Pubsub.Subscribe streams over raw
 * node:http2, publishes at the highest rate the subscribers keep up with, and counts the
 * delivered message frames. Reports delivered messages/s and the server's CPU-microseconds per
 * delivered message (from /proc/<pid>/stat), or, with --idle, RSS per idle subscriber.
 *
 *   node --import tsx scripts/fanout-probe.ts [--n 100,1000] [--protocol grpc|grpc-web|connect]
 *       [--target gateway|raw|grpc-js] [--seconds 5] [--idle] [--cpu-prof DIR] [--runs 1]
 *
 * --target raw and grpc-js run the baseline servers of bench/baselines (the floor and the peer);
 * --target gateway@DIR runs the gateway from another checkout (say `git archive HEAD` unpacked
 * into DIR with node_modules linked), for before/after numbers in the same run.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { PublishEventRequestSchema, PubsubSubscribeRequestSchema } from "../gen/virtufin/api/v1/pubsub_pb.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const SERVICE = "workmanager";
const TOPIC = "workmanager.fanout-probe";
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

type Protocol = "grpc" | "grpc-web" | "connect";

interface ClientResult {
  readonly n: number;
  readonly protocol: Protocol;
  readonly establishMs: number;
  readonly delivered: number;
  readonly seconds: number;
  readonly msgsPerSec: number;
  readonly serverCpuUsPerMsg: number;
  readonly serverCpuShare: number;
  readonly clientCpuShare: number;
  readonly frameBytes: number;
  readonly streamsEnded: number;
  readonly rssBeforeBytes?: number;
  readonly rssAfterBytes?: number;
  readonly rssPerSubscriberBytes?: number;
}

function procStats(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return {
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
    rssBytes: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) * 1024,
  };
}

function envelope(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return frame;
}

function streamHeaders(protocol: Protocol): http2.OutgoingHttpHeaders {
  const base = { ":method": "POST", ":path": "/virtufin.api.v1.Pubsub/Subscribe" };
  if (protocol === "grpc") return { ...base, "content-type": "application/grpc", te: "trailers" };
  if (protocol === "grpc-web") return { ...base, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
  return { ...base, "content-type": "application/connect+proto", "connect-protocol-version": "1" };
}

/** Counts data frames of a stream of 5-byte envelopes, reading only the headers. */
class FrameCounter {
  frames = 0;
  bytes = 0;
  private header = Buffer.alloc(5);
  private headerHave = 0;
  private bodyLeft = 0;
  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= take;
        i += take;
        continue;
      }
      if (this.headerHave === 0 && chunk.length - i >= 5) {
        const flags = chunk[i] as number;
        this.bodyLeft = chunk.readUInt32BE(i + 1);
        if ((flags & 0x82) === 0) this.frames++;
        i += 5;
        continue;
      }
      this.header[this.headerHave++] = chunk[i++] as number;
      if (this.headerHave === 5) {
        this.headerHave = 0;
        this.bodyLeft = this.header.readUInt32BE(1);
        if (((this.header[0] as number) & 0x82) === 0) this.frames++;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The load process
// ---------------------------------------------------------------------------------------------

async function runClient(opts: {
  port: number;
  serverPid: number;
  n: number;
  protocol: Protocol;
  seconds: number;
  warmupSeconds: number;
  idle: boolean;
  payloadBytes: number;
}): Promise<ClientResult> {
  const url = `http://127.0.0.1:${opts.port}`;
  const connections = Math.max(1, Math.min(100, Math.ceil(opts.n / 100)));
  const sessions = Array.from({ length: connections }, () => http2.connect(url, { settings: { initialWindowSize: 1 << 20 } }));
  for (const s of sessions) {
    s.on("error", () => {});
    // The connection window, not only each stream's, must not be what limits delivery.
    s.once("connect", () => s.setLocalWindowSize(64 << 20));
  }
  const rssBefore = procStats(opts.serverPid).rssBytes;
  const counters: FrameCounter[] = [];
  let ended = 0;
  const started = performance.now();
  const body = envelope(toBinary(PubsubSubscribeRequestSchema, create(PubsubSubscribeRequestSchema, { service: SERVICE, topic: TOPIC })));
  await Promise.all(
    Array.from({ length: opts.n }, (_, i) => {
      const counter = new FrameCounter();
      counters.push(counter);
      const stream = (sessions[i % connections] as http2.ClientHttp2Session).request(streamHeaders(opts.protocol));
      stream.on("data", (chunk: Buffer) => counter.push(chunk));
      stream.on("error", () => {});
      stream.once("close", () => ended++);
      stream.end(body);
      return new Promise<void>((resolve, reject) => {
        stream.once("response", (h) => (h[":status"] === 200 ? resolve() : reject(new Error(`status ${h[":status"]}`))));
        stream.once("close", () => reject(new Error(`stream closed before headers (rst ${stream.rstCode})`)));
      });
    }),
  );
  const establishMs = performance.now() - started;
  const delivered = () => counters.reduce((sum, c) => sum + c.frames, 0);

  if (opts.idle) {
    await new Promise((r) => setTimeout(r, 2000));
    const rssAfter = procStats(opts.serverPid).rssBytes;
    for (const s of sessions) s.destroy();
    return {
      n: opts.n,
      protocol: opts.protocol,
      establishMs,
      delivered: 0,
      seconds: 0,
      msgsPerSec: 0,
      serverCpuUsPerMsg: 0,
      serverCpuShare: 0,
      clientCpuShare: 0,
      frameBytes: 0,
      streamsEnded: ended,
      rssBeforeBytes: rssBefore,
      rssAfterBytes: rssAfter,
      rssPerSubscriberBytes: (rssAfter - rssBefore) / opts.n,
    };
  }

  // Publisher: keeps at most WINDOW events per subscriber in flight, so no subscriber is cut.
  const WINDOW = 256;
  const IN_FLIGHT = 32;
  const publisher = http2.connect(url);
  publisher.on("error", () => {});
  const payload = new TextEncoder().encode(JSON.stringify({ pad: "x".repeat(Math.max(0, opts.payloadBytes - 10)) }));
  const publishFrame = envelope(toBinary(PublishEventRequestSchema, create(PublishEventRequestSchema, { service: SERVICE, topic: TOPIC, data: payload })));
  let published = 0;
  let inFlight = 0;
  let stopping = false;
  let failures = 0;
  const publishOne = () => {
    inFlight++;
    published++;
    const req = publisher.request({ ":method": "POST", ":path": "/virtufin.api.v1.Pubsub/PublishEvent", "content-type": "application/grpc", te: "trailers" });
    req.on("data", () => {});
    req.on("trailers", (t) => {
      if (t["grpc-status"] !== "0") failures++;
    });
    req.on("error", () => {});
    req.once("close", () => {
      inFlight--;
      pump();
    });
    req.end(publishFrame);
  };
  let pumpTimer: NodeJS.Timeout | undefined;
  const pump = () => {
    if (stopping) return;
    const ahead = published - delivered() / opts.n;
    while (inFlight < IN_FLIGHT && published - delivered() / opts.n < WINDOW) publishOne();
    if (inFlight === 0 && pumpTimer === undefined && ahead >= WINDOW) {
      pumpTimer = setTimeout(() => {
        pumpTimer = undefined;
        pump();
      }, 1);
    }
  };
  const ticker = setInterval(pump, 2);
  pump();
  await new Promise((r) => setTimeout(r, opts.warmupSeconds * 1000));
  const d0 = delivered();
  const s0 = procStats(opts.serverPid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, opts.seconds * 1000));
  const d1 = delivered();
  const s1 = procStats(opts.serverPid);
  if (process.env.PROBE_DEBUG) console.error(`published ${published} inFlight ${inFlight} ahead ${(published - d1 / opts.n).toFixed(1)}`);
  const c1 = process.cpuUsage(c0);
  const seconds = (performance.now() - t0) / 1000;
  stopping = true;
  clearInterval(ticker);
  clearTimeout(pumpTimer);
  const bytes = counters.reduce((sum, c) => sum + c.bytes, 0);
  const frames = delivered();
  for (const s of sessions) s.destroy();
  publisher.destroy();
  if (failures > 0) console.error(`${failures} publishes failed`);
  return {
    n: opts.n,
    protocol: opts.protocol,
    establishMs,
    delivered: d1 - d0,
    seconds,
    msgsPerSec: (d1 - d0) / seconds,
    serverCpuUsPerMsg: ((s1.cpuSeconds - s0.cpuSeconds) * 1e6) / (d1 - d0),
    serverCpuShare: (s1.cpuSeconds - s0.cpuSeconds) / seconds,
    clientCpuShare: (c1.user + c1.system) / 1e6 / seconds,
    frameBytes: frames === 0 ? 0 : Math.round(bytes / frames),
    streamsEnded: ended,
  };
}

// ---------------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------------

const pinnable = spawnSync("taskset", ["-c", "0", "true"]).status === 0;
const pin = (core: number) => (pinnable ? ["taskset", "-c", String(core)] : []);

function spawnPinned(core: number, args: string[], ipc: boolean): ChildProcess {
  const [bin, ...rest] = [...pin(core), ...args] as [string, ...string[]];
  return spawn(bin, rest, { cwd: ROOT, stdio: ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"] });
}

interface Target {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

async function startTarget(kind: string, cpuProfDir: string | undefined): Promise<Target> {
  const nodeArgs = cpuProfDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", cpuProfDir];
  let child: ChildProcess;
  let dataDir: string | undefined;
  if (kind === "gateway" || kind.startsWith("gateway@")) {
    dataDir = mkdtempSync(join(tmpdir(), "fanout-probe-"));
    const main = kind === "gateway" ? "src/main.ts" : join(kind.slice("gateway@".length), "src/main.ts");
    child = spawnPinned(0, [process.execPath, ...nodeArgs, "--import", "tsx", main, "--host", "127.0.0.1", "--http-port", "0",
      "--data-dir", dataDir, "--subscriber-buffer-size", "100000", "--max-subscribers", "1000000", "--log-level", "info"], false);
  } else {
    const script = kind === "raw" ? "bench/baselines/raw-http2-fanout.ts" : "bench/baselines/grpc-js-fanout.ts";
    child = spawnPinned(0, [process.execPath, ...nodeArgs, "--import", "tsx", script], true);
  }
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start:\n${output}`)), 30_000);
    const done = (p: number) => {
      clearTimeout(timer);
      resolve(p);
    };
    child.on("message", (m: { type?: string; port?: number }) => {
      if (m.type === "listening" && typeof m.port === "number") done(m.port);
    });
    child.stdout?.on("data", () => {
      const m = /"port":(\d+)[^\n]*listening/.exec(output);
      if (m) done(Number(m[1]));
    });
    void exited.then(() => reject(new Error(`${kind} exited:\n${output}`)));
  });
  if (kind.startsWith("gateway")) {
    // Wait for readiness: pinned backend subscriptions are open.
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    pid: child.pid as number,
    port,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function runOne(target: Target, args: Record<string, unknown>): Promise<ClientResult> {
  const child = spawnPinned(1, [process.execPath, "--import", "tsx", SELF, "--role", "client", "--client-args", JSON.stringify({ ...args, port: target.port, serverPid: target.pid })], false);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const line = out.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`load process failed (${code}):\n${out}\n${err}`);
  if (err.trim() !== "") console.error(err.trim());
  return JSON.parse(line) as ClientResult;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      role: { type: "string", default: "driver" },
      "client-args": { type: "string" },
      n: { type: "string", default: "100,1000" },
      protocol: { type: "string", default: "grpc" },
      target: { type: "string", default: "gateway" },
      seconds: { type: "string", default: "5" },
      warmup: { type: "string", default: "2" },
      payload: { type: "string", default: "64" },
      runs: { type: "string", default: "1" },
      idle: { type: "boolean", default: false },
      "cpu-prof": { type: "string" },
    },
  });
  if (values.role === "client") {
    const result = await runClient(JSON.parse(values["client-args"] ?? "{}"));
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  }
  if (!pinnable) console.error("taskset unavailable: server and load process are not pinned");
  for (const kind of values.target.split(",")) {
    for (const n of values.n.split(",").map(Number)) {
      for (const protocol of values.protocol.split(",") as Protocol[]) {
        const results: ClientResult[] = [];
        for (let run = 0; run < Number(values.runs); run++) {
          const target = await startTarget(kind, values["cpu-prof"]);
          try {
            results.push(
              await runOne(target, {
                n,
                protocol,
                seconds: Number(values.seconds),
                warmupSeconds: Number(values.warmup),
                idle: values.idle,
                payloadBytes: Number(values.payload),
              }),
            );
          } finally {
            await target.stop();
          }
        }
        const sorted = [...results].sort((a, b) => (values.idle ? (a.rssPerSubscriberBytes ?? 0) - (b.rssPerSubscriberBytes ?? 0) : a.msgsPerSec - b.msgsPerSec));
        const r = sorted[Math.floor(sorted.length / 2)] as ClientResult;
        if (values.idle) {
          console.log(`${kind} ${protocol} N=${n} idle: ${((r.rssPerSubscriberBytes ?? 0) / 1024).toFixed(1)} KB RSS/subscriber (${((r.rssBeforeBytes ?? 0) / 2 ** 20).toFixed(0)} -> ${((r.rssAfterBytes ?? 0) / 2 ** 20).toFixed(0)} MB), established in ${r.establishMs.toFixed(0)} ms`);
        } else {
          console.log(
            `${kind} ${protocol} N=${n}: ${Math.round(r.msgsPerSec).toLocaleString("en")} msgs/s, ${r.serverCpuUsPerMsg.toFixed(2)} server CPU-us/msg (server ${(r.serverCpuShare * 100).toFixed(0)}% of a core, client ${(r.clientCpuShare * 100).toFixed(0)}%), ${r.frameBytes} B/frame, ${r.streamsEnded} streams ended early` +
              (results.length > 1 ? ` [runs: ${results.map((x) => Math.round(x.msgsPerSec)).join(", ")}]` : ""),
          );
        }
      }
    }
  }
}

await main();
