/**
 * Dapr backend probe: starts daprd (test/support/daprd.ts) and the built gateway (dist/) on it,
 * drives GetState / SaveState / PublishEvent closed-loop over gRPC and prints calls/s and CPU
 * per call (from /proc/<pid>/stat) for the gateway+daprd next to the same calls made to daprd
 * directly, so a before/after comparison is one command:
 *
 *   npm run build && node --import tsx scripts/dapr-probe.ts [calls=5000] [inFlight=32]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import * as dapr from "@dapr/dapr/proto/dapr/proto/runtime/v1/dapr_pb.js";
import { PublishEventRequestSchema } from "../gen/virtufin/api/v1/pubsub_pb.js";
import { GetStateRequestSchema, SaveStateRequestSchema } from "../gen/virtufin/api/v1/state_pb.js";
import { startDaprd } from "../test/support/daprd.js";
import { envelope } from "../src/server/framing.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CALLS = Number(process.argv[2] ?? 5000);
const IN_FLIGHT = Number(process.argv[3] ?? 32);
const SERVICE = "probe";
const run = `probe-${process.pid}-${Date.now().toString(36)}`;
const value = "x".repeat(200);

/** Clock ticks (user+system) a process has used so far; 100 ticks per second on Linux. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
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

async function startGateway(daprGrpc: number, daprHttp: number, dir: string): Promise<{ pid: number; port: number; stop(): Promise<void> }> {
  writeFileSync(join(dir, "services.json"), JSON.stringify({ services: [{ name: SERVICE, topics: ["probe.events"] }] }));
  const child = spawn(
    process.execPath,
    [
      "--import", join(ROOT, "dist/src/observability/telemetry-preload.js"), join(ROOT, "dist/src/main.js"),
      "--host", "127.0.0.1", "--http-port", "0", "--backend", "dapr",
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

const daprd = await startDaprd({ appId: run, pubsub: "redis", logLevel: "warn" });
const dir = mkdtempSync(join(tmpdir(), "dapr-probe-"));
const gateway = await startGateway(daprd.grpcPort, daprd.httpPort, dir);
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
  console.log(`calls=${CALLS} inFlight=${IN_FLIGHT}; CPU in microseconds per call`);
  for (const name of ["SaveState", "GetState", "PublishEvent"]) {
    for (const [label, port, c, pids] of [
      ["gateway+daprd", gateway.port, viaGateway[name]!, [gateway.pid, daprd.pid]],
      ["daprd direct ", daprd.grpcPort, direct[name]!, [daprd.pid]],
    ] as const) {
      await closedLoop(port, c, Math.min(1000, CALLS), IN_FLIGHT); // warm-up
      const before = pids.map(cpuTicks);
      const r = await closedLoop(port, c, CALLS, IN_FLIGHT);
      const used = pids.map((p, i) => ((cpuTicks(p) - before[i]!) * 10_000) / CALLS);
      const split = pids.length === 2 ? ` (gateway ${Math.round(used[0]!)}, daprd ${Math.round(used[1]!)})` : "";
      console.log(`${name.padEnd(12)} ${label} ${String(r.perSec).padStart(6)} calls/s  cpu ${Math.round(used.reduce((a, b) => a + b, 0))} us/call${split}  errors ${r.errors}`);
    }
  }
} finally {
  await gateway.stop();
  await daprd.stop();
  rmSync(dir, { recursive: true, force: true });
}
