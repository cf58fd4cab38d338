/**
 * Dapr backend probe: starts daprd (test/support/daprd.ts) and the built gateway (dist/) on it,
 * drives GetState / SaveState / PublishEvent closed-loop over gRPC and prints calls/s and CPU
 * per call (from /proc/<pid>/stat) for the gateway+daprd next to the same calls made to daprd
 * directly, so a before/after comparison is one command:
 *
 *   npm run build && node --import tsx scripts/dapr-probe.ts [calls=5000] [inFlight=32] [calls=SaveState,GetState,PublishEvent]
 *
 * "Deliver" (not in the default list) is W4 in small: DAPR_PROBE_SUBSCRIBERS (default 10) Subscribe
 * streams on the gateway, PublishEvent open-loop at DAPR_PROBE_RATE events/s (default 500) for
 * `calls` events; prints delivered events/s, publish-to-deliver p50/p99 and CPU per event.
 *
 * DAPR_PROBE_EMBEDDED=1 also runs Deliver on a gateway with the embedded backend (the fan-out
 * without Dapr); Deliver prints the gateway's CPU per thread (main, V8 workers, libuv pool).
 * DAPR_PROBE_CPU_PROF=<dir> runs the gateway with --cpu-prof into that directory (written at exit).
 * DAPR_PROBE_BUILDS=<label>=<root>,... compares gateway builds (each root holds a built dist/):
 * every round runs each build on its own fresh daprd, in turn, DAPR_PROBE_ROUNDS times (default 1).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import * as dapr from "@dapr/dapr/proto/dapr/proto/runtime/v1/dapr_pb.js";
import { StreamEventSchema } from "../gen/virtufin/api/v1/common_pb.js";
import { PubsubSubscribeRequestSchema, PublishEventRequestSchema } from "../gen/virtufin/api/v1/pubsub_pb.js";
import { GetStateRequestSchema, SaveStateRequestSchema } from "../gen/virtufin/api/v1/state_pb.js";
import { daprdStreamLatency } from "../bench/load/daprd-direct.js";
import { LogHistogram } from "../bench/lib/histogram.js";
import { startDaprd } from "../test/support/daprd.js";
import { envelope } from "../src/server/framing.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CALLS = Number(process.argv[2] ?? 5000);
const IN_FLIGHT = Number(process.argv[3] ?? 32);
const OPS = (process.argv[4] ?? "SaveState,GetState,PublishEvent").split(",");
const CPU_PROF_DIR = process.env["DAPR_PROBE_CPU_PROF"];
const BUILDS = (process.env["DAPR_PROBE_BUILDS"] ?? `gateway=${ROOT}`).split(",").map((b) => b.split("=") as [string, string]);
const ROUNDS = Number(process.env["DAPR_PROBE_ROUNDS"] ?? 1);
const SUBSCRIBERS = Number(process.env["DAPR_PROBE_SUBSCRIBERS"] ?? 10);
const RATE = Number(process.env["DAPR_PROBE_RATE"] ?? 500);
const EMBEDDED = process.env["DAPR_PROBE_EMBEDDED"] === "1";
const SERVICE = "probe";
const run = `probe-${process.pid}-${Date.now().toString(36)}`;
const value = "x".repeat(200);

/** Clock ticks (user+system) a process has used so far; 100 ticks per second on Linux. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Clock ticks per thread name (Node's threads: node main, V8 workers, libuv pool) of a process. */
function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/[0-9]+$/, "#");
    const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
    out.set(`${name} user`, (out.get(`${name} user`) ?? 0) + Number(fields[11]));
    out.set(`${name} sys`, (out.get(`${name} sys`) ?? 0) + Number(fields[12]));
  }
  return out;
}

/** Per-thread CPU used between two threadTicks readings, in microseconds per event. */
function threadSplit(before: Map<string, number>, after: Map<string, number>, events: number): string {
  return [...after]
    .map(([name, ticks]) => [name, ((ticks - (before.get(name) ?? 0)) * 10_000) / events] as const)
    .filter(([, us]) => us >= 20)
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => `${name} ${Math.round(us)}`)
    .join(", ");
}

interface Call {
  readonly path: string;
  readonly body: (i: number) => Buffer;
}

function call<S extends DescMessage>(path: string, schema: S, init: (i: number) => MessageInitShape<S>): Call {
  return { path, body: (i) => envelope(toBinary(schema, create(schema, init(i)))) };
}

/** Sends `total` calls with `inFlight` outstanding; resolves with calls/s and failed calls. */
async function closedLoop(port: number, c: Call, total: number, inFlight: number): Promise<{ perSec: number; errors: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  let sent = 0;
  let errors = 0;
  const started = performance.now();
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const i = sent++;
      const stream = session.request({ ":method": "POST", ":path": c.path, "content-type": "application/grpc", te: "trailers" });
      let ok = false;
      stream.on("response", (h) => {
        ok = h["grpc-status"] === "0";
        if (h["grpc-status"] !== undefined && !ok && errors === 0) console.error(c.path, h["grpc-message"]);
      });
      stream.on("trailers", (t) => {
        ok = t["grpc-status"] === "0";
        if (!ok && errors === 0) console.error(c.path, t["grpc-message"]);
      });
      stream.on("data", () => {});
      stream.on("error", () => {});
      stream.on("close", () => {
        if (!ok) errors++;
        resolve();
      });
      stream.end(c.body(i));
    });
  const worker = async () => {
    while (sent < total) await one();
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  session.close();
  return { perSec: Math.round((total * 1000) / (performance.now() - started)), errors };
}

/**
 * W4 in small: SUBSCRIBERS Subscribe streams, then `total` PublishEvent calls at RATE/s (open
 * loop), each carrying its send time; latency is measured on the first stream.
 */
async function deliver(port: number, total: number): Promise<{ perSec: number; p50: number; p99: number; delivered: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const latencies: number[] = [];
  let delivered = 0;
  const streams = Array.from({ length: SUBSCRIBERS }, (_, n) => {
    const stream = session.request({ ":method": "POST", ":path": "/virtufin.api.v1.Pubsub/Subscribe", "content-type": "application/grpc", te: "trailers" });
    let buffered: Buffer = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => {
      buffered = buffered.byteLength === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.byteLength >= 5 && buffered.byteLength >= 5 + buffered.readUInt32BE(1)) {
        const length = buffered.readUInt32BE(1);
        if (n === 0) {
          const event = fromBinary(StreamEventSchema, buffered.subarray(5, 5 + length));
          const sent = Number(new TextDecoder().decode(event.data));
          if (sent > 0) {
            latencies.push(performance.now() - sent);
            delivered++;
          }
        }
        buffered = buffered.subarray(5 + length);
      }
    });
    stream.on("error", () => {});
    stream.end(envelope(toBinary(PubsubSubscribeRequestSchema, create(PubsubSubscribeRequestSchema, { service: SERVICE, topic: "probe.events" }))));
    return stream;
  });
  await new Promise((r) => setTimeout(r, 1000)); // the gateway's Dapr subscription opens
  const publish = (sent: number) => {
    const body = envelope(toBinary(PublishEventRequestSchema, create(PublishEventRequestSchema, { service: SERVICE, topic: "probe.events", data: new TextEncoder().encode(String(sent)) })));
    const stream = session.request({ ":method": "POST", ":path": "/virtufin.api.v1.Pubsub/PublishEvent", "content-type": "application/grpc", te: "trailers" });
    stream.on("data", () => {});
    stream.on("error", () => {});
    stream.end(body);
  };
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    publish(performance.now());
  }
  const deadline = performance.now() + 30_000;
  while (delivered < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const elapsed = performance.now() - started;
  for (const s of streams) s.close();
  session.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? NaN;
  return { perSec: Math.round((delivered * 1000) / elapsed), p50: at(0.5), p99: at(0.99), delivered };
}

/**
 * The same publish-to-deliver path without the gateway: W4's daprd-direct path (one streaming
 * subscription straight on daprd acking each event as it arrives, PublishEvent at RATE/s), run
 * for as long as `total` events take at RATE.
 */
async function deliverDirect(grpcPort: number, total: number): Promise<{ perSec: number; p50: number; p99: number; delivered: number; published: number }> {
  const r = await daprdStreamLatency({ grpcPort, pubsub: "pubsub", topic: `${run}-deliver-direct`, rate: RATE, warmupMs: 0, durationMs: (total * 1000) / RATE, payloadBytes: 200 });
  const latency = LogHistogram.fromJSON(r.latency); // microseconds
  return { perSec: Math.round((r.received * 1000) / r.elapsedMs), p50: latency.percentile(50) / 1000, p99: latency.percentile(99) / 1000, delivered: r.received, published: r.published };
}

async function startGateway(root: string, daprGrpc: number, daprHttp: number, dir: string, backend: "dapr" | "embedded" = "dapr"): Promise<{ pid: number; port: number; stop(): Promise<void> }> {
  writeFileSync(join(dir, "services.json"), JSON.stringify({ services: [{ name: SERVICE, topics: ["probe.events"] }] }));
  const child = spawn(
    process.execPath,
    [
      ...(CPU_PROF_DIR === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", CPU_PROF_DIR]),
      "--import", join(root, "dist/src/observability/telemetry-preload.js"), join(root, "dist/src/main.js"),
      "--host", "127.0.0.1", "--http-port", "0", "--backend", backend,
      "--dapr-grpc-port", String(daprGrpc), "--dapr-http-port", String(daprHttp), "--dapr-topic-prefix", `${run}-`,
      "--data-dir", join(dir, "data"), "--services-file", join(dir, "services.json"),
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, LOG_LEVEL: "warn" } },
  );
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+)[^\n]*listening/.exec(out);
      if (m) resolve(Number(m[1]));
      if (out.length > 1e5) out = out.slice(-1e4);
    });
    child.once("exit", (code) => reject(new Error(`gateway exited with ${code}:\n${out}`)));
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { pid: child.pid!, port, stop: async () => (child.kill("SIGTERM"), exited) };
}

/** One build on a fresh daprd: each call through the gateway, then (if asked) straight to daprd. */
async function measure(label: string, root: string, withDirect: boolean): Promise<void> {
  const daprd = await startDaprd({ appId: `${run}-${label}`, pubsub: "redis", logLevel: "warn" });
  const dir = mkdtempSync(join(tmpdir(), "dapr-probe-"));
  const gateway = await startGateway(root, daprd.grpcPort, daprd.httpPort, dir);
  try {
    const viaGateway: Record<string, Call> = {
      GetState: call("/virtufin.api.v1.State/GetState", GetStateRequestSchema, (i) => ({ service: SERVICE, key: `k${i % 100}` })),
      SaveState: call("/virtufin.api.v1.State/SaveState", SaveStateRequestSchema, (i) => ({ service: SERVICE, key: `k${i % 100}`, value })),
      PublishEvent: call("/virtufin.api.v1.Pubsub/PublishEvent", PublishEventRequestSchema, () => ({ service: SERVICE, topic: "probe.events", data: Buffer.from(value) })),
    };
    const direct: Record<string, Call> = {
      GetState: call("/dapr.proto.runtime.v1.Dapr/GetState", dapr.GetStateRequestSchema, (i) => ({ storeName: "statestore", key: `${run}-k${i % 100}` })),
      SaveState: call("/dapr.proto.runtime.v1.Dapr/SaveState", dapr.SaveStateRequestSchema, (i) => ({ storeName: "statestore", states: [{ key: `${run}-k${i % 100}`, value: Buffer.from(value) }] })),
      PublishEvent: call("/dapr.proto.runtime.v1.Dapr/PublishEvent", dapr.PublishEventRequestSchema, () => ({ pubsubName: "pubsub", topic: `${run}-direct`, data: Buffer.from(value), dataContentType: "text/plain" })),
    };
    for (const name of OPS) {
      if (name === "Deliver") {
        const before = [gateway.pid, daprd.pid].map(cpuTicks);
        const threadsBefore = threadTicks(gateway.pid);
        const r = await deliver(gateway.port, CALLS);
        const threads = threadSplit(threadsBefore, threadTicks(gateway.pid), CALLS);
        const used = [gateway.pid, daprd.pid].map((p, i) => ((cpuTicks(p) - before[i]!) * 10_000) / CALLS);
        console.log(
          `Deliver      ${`${label}+daprd`.padEnd(22)} ${String(r.perSec).padStart(6)} events/s (${r.delivered}/${CALLS} at ${RATE}/s offered, ${SUBSCRIBERS} streams)  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  cpu ${Math.round(used[0]! + used[1]!)} us/event (gateway ${Math.round(used[0]!)}, daprd ${Math.round(used[1]!)})`,
        );
        console.log(`             gateway threads, us/event: ${threads}`);
        if (EMBEDDED) {
          // The same fan-out with the in-process broker: what the gateway spends without Dapr.
          const embeddedDir = mkdtempSync(join(tmpdir(), "dapr-probe-embedded-"));
          const embedded = await startGateway(root, daprd.grpcPort, daprd.httpPort, embeddedDir, "embedded");
          try {
            const ticks = cpuTicks(embedded.pid);
            const tb = threadTicks(embedded.pid);
            const e = await deliver(embedded.port, CALLS);
            const us = ((cpuTicks(embedded.pid) - ticks) * 10_000) / CALLS;
            console.log(
              `Deliver      ${`${label} embedded`.padEnd(22)} ${String(e.perSec).padStart(6)} events/s (${e.delivered}/${CALLS} at ${RATE}/s offered, ${SUBSCRIBERS} streams)  p50 ${e.p50.toFixed(1)} ms  p99 ${e.p99.toFixed(1)} ms  cpu ${Math.round(us)} us/event`,
            );
            console.log(`             gateway threads, us/event: ${threadSplit(tb, threadTicks(embedded.pid), CALLS)}`);
          } finally {
            await embedded.stop();
            rmSync(embeddedDir, { recursive: true, force: true });
          }
        }
        if (withDirect) {
          const daprdBefore = cpuTicks(daprd.pid);
          const d = await deliverDirect(daprd.grpcPort, CALLS);
          const daprdUsed = ((cpuTicks(daprd.pid) - daprdBefore) * 10_000) / Math.max(1, d.published);
          console.log(
            `Deliver      ${"daprd direct".padEnd(22)} ${String(d.perSec).padStart(6)} events/s (${d.delivered}/${d.published} at ${RATE}/s offered, 1 stream)  p50 ${d.p50.toFixed(1)} ms  p99 ${d.p99.toFixed(1)} ms  cpu ${Math.round(daprdUsed)} us/event (daprd)`,
          );
        }
        continue;
      }
      const targets: Array<readonly [string, number, Call, readonly number[]]> = [[`${label}+daprd`, gateway.port, viaGateway[name]!, [gateway.pid, daprd.pid]]];
      if (withDirect) targets.push(["daprd direct", daprd.grpcPort, direct[name]!, [daprd.pid]]);
      for (const [target, port, c, pids] of targets) {
        await closedLoop(port, c, Math.min(1000, CALLS), IN_FLIGHT); // warm-up
        const before = pids.map(cpuTicks);
        const r = await closedLoop(port, c, CALLS, IN_FLIGHT);
        const used = pids.map((p, i) => ((cpuTicks(p) - before[i]!) * 10_000) / CALLS);
        const split = pids.length === 2 ? ` (gateway ${Math.round(used[0]!)}, daprd ${Math.round(used[1]!)})` : "";
        console.log(`${name.padEnd(12)} ${target.padEnd(22)} ${String(r.perSec).padStart(6)} calls/s  cpu ${Math.round(used.reduce((a, b) => a + b, 0))} us/call${split}  errors ${r.errors}`);
      }
    }
  } finally {
    await gateway.stop();
    await daprd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`calls=${CALLS} inFlight=${IN_FLIGHT}; CPU in microseconds per call`);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, [label, root]] of BUILDS.entries()) await measure(label, root, i === 0);
}
