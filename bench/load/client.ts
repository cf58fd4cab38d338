/**
 * The load generator: one process (pinned to its own core by bench/run.ts) that holds thousands
 * of Subscribe streams over raw node:http2 sessions, counts delivered messages by reading only the
 * 5-byte envelope headers, decodes a timestamp only on a few sampled streams, publishes (window-
 * limited at max rate, or open-loop at a fixed rate), and drives unary calls open-loop or
 * closed-loop. It talks to the harness over IPC (bench/lib/proc.ts serveIpc).
 */
import * as http2 from "node:http2";
import { daprdStreamLatency } from "./daprd-direct.js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GetStateRequestSchema as DaprGetStateRequestSchema, SaveStateRequestSchema as DaprSaveStateRequestSchema } from "@dapr/dapr/proto/dapr/proto/runtime/v1/dapr_pb.js";
import { StreamEventSchema } from "../../gen/virtufin/api/v1/common_pb.js";
import { PublishEventRequestSchema, PubsubSubscribeRequestSchema } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { GetStateRequestSchema, SaveStateRequestSchema } from "../../gen/virtufin/api/v1/state_pb.js";
import { LogHistogram, type HistogramJson } from "../lib/histogram.js";
import { openLoop } from "../lib/open-loop.js";
import { selfUsage, serveIpc } from "../lib/proc.js";
import { envelope, FrameCounter, streamHeaders, unaryRequest, type Protocol } from "../lib/wire.js";
import { jetstreamLatency, natsPublishProbe, redisDirectUnary, redisStreamsLatency } from "./brokers-direct.js";

const PUBLISH_PATH = "/virtufin.api.v1.Pubsub/PublishEvent";
const SUBSCRIBE_PATH = "/virtufin.api.v1.Pubsub/Subscribe";

function connect(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, { maxSessionMemory: 1000, settings: { initialWindowSize: 1 << 20 } });
    session.once("connect", () => {
      session.setLocalWindowSize(1 << 26);
      resolve(session);
    });
    session.once("error", reject);
    session.on("error", () => {});
  });
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The payload of a published event: its send time (ms since epoch) and sequence number. */
function payload(seq: number): Uint8Array {
  return Buffer.from(JSON.stringify({ t: Number(nowMs().toFixed(3)), s: seq }));
}

function sentAtOf(eventBody: Buffer): number | undefined {
  try {
    const event = fromBinary(StreamEventSchema, eventBody);
    const t = (JSON.parse(Buffer.from(event.data).toString()) as { t?: unknown }).t;
    return typeof t === "number" ? t : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Fan-out: many subscribers, one publisher
// ---------------------------------------------------------------------------------------------

interface FanoutState {
  port: number;
  service: string;
  topic: string;
  n: number;
  sessions: http2.ClientHttp2Session[];
  publishSession: http2.ClientHttp2Session;
  streams: http2.ClientHttp2Stream[];
  counters: FrameCounter[];
  latency: LogHistogram;
  lastSample: Buffer | undefined;
  lost: number;
  lostReasons: Map<string, number>;
  closing: boolean;
  published: number;
  publishErrors: number;
  publishErrorSample: string | undefined;
  publishInflight: number;
  publishSkipped: number;
  publisherTimer: NodeJS.Timeout | undefined;
  publisherMode: "off" | "window" | "rate";
}

let fanout: FanoutState | undefined;

function delivered(f: FanoutState): number {
  let total = 0;
  for (const c of f.counters) total += c.messages;
  return total;
}

function publishOne(f: FanoutState): void {
  const seq = f.published++;
  f.publishInflight++;
  const body = envelope(toBinary(PublishEventRequestSchema, create(PublishEventRequestSchema, { service: f.service, topic: f.topic, data: payload(seq) })));
  const s = f.publishSession.request(streamHeaders("grpc", PUBLISH_PATH));
  let status: string | undefined;
  s.on("response", (h) => (status = (h["grpc-status"] as string | undefined) ?? status));
  s.on("trailers", (t) => (status = (t["grpc-status"] as string | undefined) ?? status));
  s.on("data", () => {});
  s.on("error", () => {});
  s.once("close", () => {
    f.publishInflight--;
    if (status !== "0") {
      f.publishErrors++;
      f.publishErrorSample ??= `grpc-status ${status ?? "none"} (rst ${s.rstCode})`;
    }
    if (f.publisherMode === "window") pumpWindow(f);
  });
  s.end(body);
}

let windowEvents = 50;
let windowConcurrency = 8;

function pumpWindow(f: FanoutState): void {
  if (f.publisherMode !== "window") return;
  while (f.publishInflight < windowConcurrency && f.published - delivered(f) / Math.max(1, f.n - f.lost) < windowEvents) publishOne(f);
}

async function openFanout(args: {
  port: number;
  protocol: Protocol;
  n: number;
  conns: number;
  service: string;
  topic: string;
  sampleStreams: number;
}): Promise<{ opened: number; openMs: number }> {
  if (fanout !== undefined) throw new Error("a fan-out is already open");
  const started = performance.now();
  const sessions = await Promise.all(Array.from({ length: args.conns }, () => connect(args.port)));
  const publishSession = await connect(args.port);
  const f: FanoutState = {
    port: args.port,
    service: args.service,
    topic: args.topic,
    n: args.n,
    sessions,
    publishSession,
    streams: [],
    counters: [],
    latency: new LogHistogram(),
    lastSample: undefined,
    lost: 0,
    lostReasons: new Map(),
    closing: false,
    published: 0,
    publishErrors: 0,
    publishErrorSample: undefined,
    publishInflight: 0,
    publishSkipped: 0,
    publisherTimer: undefined,
    publisherMode: "off",
  };
  fanout = f;
  const request = envelope(toBinary(PubsubSubscribeRequestSchema, create(PubsubSubscribeRequestSchema, { service: args.service, topic: args.topic })));
  const headers = streamHeaders(args.protocol, SUBSCRIBE_PATH);
  for (let i = 0; i < args.n; i++) {
    const sampled = i < args.sampleStreams;
    const counter = new FrameCounter(
      sampled
        ? (body) => {
            f.lastSample = body;
            const t = sentAtOf(body);
            if (t !== undefined) f.latency.record((nowMs() - t) * 1000);
          }
        : undefined,
    );
    const s = (sessions[i % sessions.length] as http2.ClientHttp2Session).request(headers);
    let status: string | undefined;
    s.on("response", (h) => (status = (h["grpc-status"] as string | undefined) ?? (Number(h[":status"]) !== 200 ? `http ${h[":status"]}` : status)));
    s.on("trailers", (t) => (status = (t["grpc-status"] as string | undefined) ?? status));
    s.on("data", (chunk: Buffer) => counter.push(chunk));
    s.on("error", () => {});
    s.once("close", () => {
      if (f.closing) return;
      f.lost++;
      const reason = `grpc-status ${status ?? "none"}, rst ${s.rstCode ?? 0}`;
      f.lostReasons.set(reason, (f.lostReasons.get(reason) ?? 0) + 1);
    });
    s.end(request);
    f.streams.push(s);
    f.counters.push(counter);
    // Yield now and then so thousands of opens do not starve the event loop.
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  return { opened: args.n, openMs: performance.now() - started };
}

/**
 * Publishes one event at a time until every stream has received at least one message (the
 * subscription is live end to end). Returns how long that took.
 */
async function primeFanout(args: { timeoutMs: number; retryMs?: number }): Promise<{ primeMs: number; readyStreams: number }> {
  const f = need();
  const started = performance.now();
  const ready = () => f.counters.reduce((n, c) => n + (c.messages > 0 ? 1 : 0), 0);
  // One event at a time; the next only once deliveries of the last have stopped progressing for
  // 300 ms (or after retryMs): publishing faster would queue a backlog on thousands of streams.
  while (ready() + f.lost < f.n && performance.now() - started < args.timeoutMs) {
    publishOne(f);
    const sentAt = performance.now();
    let lastReady = ready();
    let lastProgress = sentAt;
    for (;;) {
      await new Promise((r) => setTimeout(r, 10));
      const now = performance.now();
      const r = ready();
      if (r + f.lost >= f.n || now - sentAt >= (args.retryMs ?? 2000)) break;
      if (r > lastReady) {
        lastReady = r;
        lastProgress = now;
      } else if (now - lastProgress >= 300) break;
    }
  }
  return { primeMs: performance.now() - started, readyStreams: ready() };
}

function need(): FanoutState {
  if (fanout === undefined) throw new Error("no fan-out open");
  return fanout;
}

function startPublisher(args: { mode: "window" | "rate"; windowEvents?: number; concurrency?: number; rate?: number }): boolean {
  const f = need();
  stopPublisher();
  if (args.mode === "window") {
    windowEvents = args.windowEvents ?? 50;
    windowConcurrency = args.concurrency ?? 8;
    f.publisherMode = "window";
    f.publisherTimer = setInterval(() => pumpWindow(f), 1);
    pumpWindow(f);
  } else {
    const rate = args.rate ?? 1000;
    f.publisherMode = "rate";
    const start = performance.now();
    const base = f.published;
    f.publisherTimer = setInterval(() => {
      const due = Math.floor(((performance.now() - start) * rate) / 1000) - (f.published + f.publishSkipped - base);
      for (let i = 0; i < due; i++) {
        // A server that cannot keep up gets at most 500 publishes in flight; the rest are counted, not sent.
        if (f.publishInflight >= 500) f.publishSkipped++;
        else publishOne(f);
      }
    }, 1);
  }
  return true;
}

function stopPublisher(): boolean {
  const f = fanout;
  if (f === undefined) return false;
  if (f.publisherTimer !== undefined) clearInterval(f.publisherTimer);
  f.publisherTimer = undefined;
  f.publisherMode = "off";
  return true;
}

export interface FanoutWindow {
  delivered: number;
  published: number;
  elapsedMs: number;
  latency: HistogramJson;
  lost: number;
  lostReasons: Record<string, number>;
  frameBytes: number;
  publishErrors: number;
  publishErrorSample: string | undefined;
  publishSkipped: number;
  client: { cpuSeconds: number; rssBytes: number };
}

/** Counts what arrives during `ms` (the harness reads the server's CPU around this call). */
async function measureFanout(args: { ms: number }): Promise<FanoutWindow> {
  const f = need();
  f.latency = new LogHistogram();
  const d0 = delivered(f);
  const p0 = f.published;
  const e0 = f.publishErrors;
  const s0 = f.publishSkipped;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, args.ms));
  const elapsedMs = performance.now() - t0;
  return {
    delivered: delivered(f) - d0,
    published: f.published - p0,
    elapsedMs,
    latency: f.latency.toJSON(),
    lost: f.lost,
    lostReasons: Object.fromEntries(f.lostReasons),
    frameBytes: f.counters.find((c) => c.lastFrameBytes > 0)?.lastFrameBytes ?? 0,
    publishErrors: f.publishErrors - e0,
    publishErrorSample: f.publishErrorSample,
    publishSkipped: f.publishSkipped - s0,
    client: selfUsage(),
  };
}

async function closeFanout(): Promise<boolean> {
  const f = fanout;
  if (f === undefined) return false;
  stopPublisher();
  f.closing = true;
  for (const s of f.streams) s.close(http2.constants.NGHTTP2_CANCEL);
  await Promise.all([...f.sessions, f.publishSession].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  fanout = undefined;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Unary calls
// ---------------------------------------------------------------------------------------------

export type UnaryTarget = "gateway" | "daprd";
export type UnaryOp = "get" | "save";

interface UnaryArgs {
  port: number;
  target: UnaryTarget;
  protocol: Protocol;
  op: UnaryOp;
  service: string;
  keyPrefix: string;
  keyCount: number;
  valueBytes: number;
  conns: number;
  /** open: a fixed rate (latency from the intended send time); closed: `concurrency` calls always in flight. */
  mode: "open" | "closed";
  rate?: number;
  concurrency?: number;
  warmupMs: number;
  durationMs: number;
  storeName?: string;
}

export interface UnaryResult {
  count: number;
  errors: number;
  errorSample: string | undefined;
  dropped: number;
  elapsedMs: number;
  latency: HistogramJson;
  client: { cpuSeconds: number; rssBytes: number };
}

function value(bytes: number): string {
  const base = '{"state":"busy","worker":"w-000","pad":"';
  return base + "x".repeat(Math.max(0, bytes - base.length - 2)) + '"}';
}

function unaryBodies(a: UnaryArgs): { headers: http2.OutgoingHttpHeaders; body: Buffer }[] {
  const v = value(a.valueBytes);
  return Array.from({ length: a.keyCount }, (_, i) => {
    const key = `${a.keyPrefix}${i}`;
    if (a.target === "daprd") {
      const store = a.storeName ?? "statestore";
      // daprd refuses "||" in keys (it adds "<app-id>||" itself when keyPrefix is appid), so the
      // direct client uses "<service>-<key>": same length class, its own entries.
      const fullKey = `${a.service}-${key}`;
      return a.op === "get"
        ? unaryRequest("grpc", "/dapr.proto.runtime.v1.Dapr/GetState", toBinary(DaprGetStateRequestSchema, create(DaprGetStateRequestSchema, { storeName: store, key: fullKey })))
        : unaryRequest(
            "grpc",
            "/dapr.proto.runtime.v1.Dapr/SaveState",
            toBinary(DaprSaveStateRequestSchema, create(DaprSaveStateRequestSchema, { storeName: store, states: [{ key: fullKey, value: Buffer.from(v) }] })),
          );
    }
    return a.op === "get"
      ? unaryRequest(a.protocol, "/virtufin.api.v1.State/GetState", toBinary(GetStateRequestSchema, create(GetStateRequestSchema, { service: a.service, key })))
      : unaryRequest(a.protocol, "/virtufin.api.v1.State/SaveState", toBinary(SaveStateRequestSchema, create(SaveStateRequestSchema, { service: a.service, key, value: v })));
  });
}

/** Whether a finished call succeeded, per protocol. */
function unaryOk(protocol: Protocol, headers: http2.IncomingHttpHeaders, trailers: http2.IncomingHttpHeaders, body: Buffer): string | undefined {
  if (protocol === "connect") return Number(headers[":status"]) === 200 ? undefined : `http ${headers[":status"]}: ${body.toString().slice(0, 200)}`;
  let status = (trailers["grpc-status"] ?? headers["grpc-status"]) as string | undefined;
  if (protocol === "grpc-web" && status === undefined) {
    // The trailers are the last envelope (flag 0x80) of the body.
    const m = /grpc-status:\s*(\d+)/i.exec(body.toString("latin1"));
    status = m?.[1];
  }
  if (status === "0") return undefined;
  const message = (trailers["grpc-message"] ?? headers["grpc-message"] ?? "") as string;
  return `grpc-status ${status ?? "none"} ${decodeURIComponent(message)}`.trim();
}

async function unary(a: UnaryArgs): Promise<UnaryResult> {
  const sessions = await Promise.all(Array.from({ length: a.conns }, () => connect(a.port)));
  const bodies = unaryBodies(a);
  const latency = new LogHistogram();
  let recording = false;
  let count = 0;
  let errors = 0;
  let errorSample: string | undefined;
  let dropped = 0;
  let inflight = 0;
  let next = 0;
  const maxInflight = 4000;

  const call = (intended: number, onDone?: () => void) => {
    const i = next++;
    const { headers, body } = bodies[i % bodies.length]!;
    inflight++;
    const s = (sessions[i % sessions.length] as http2.ClientHttp2Session).request(headers);
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    s.on("response", (h) => (resHeaders = h));
    s.on("trailers", (t) => (trailers = t));
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", () => {});
    const record = recording;
    s.once("close", () => {
      inflight--;
      if (record && recording) {
        const problem = s.rstCode !== 0 && s.rstCode !== undefined && resHeaders[":status"] === undefined ? `rst ${s.rstCode}` : unaryOk(a.protocol, resHeaders, trailers, Buffer.concat(chunks));
        if (problem === undefined) {
          count++;
          latency.record((performance.now() - intended) * 1000);
        } else {
          errors++;
          errorSample ??= problem;
        }
      }
      onDone?.();
    });
    s.end(body);
  };

  const run = (ms: number): Promise<number> => {
    if (a.mode === "open") {
      return openLoop(a.rate ?? 1000, ms, (intended) => {
        if (inflight >= maxInflight) {
          if (recording) dropped++;
          return;
        }
        call(intended);
      });
    }
    return new Promise<number>((resolve) => {
      const started = performance.now();
      // Per run: calls still in flight from the previous run must not stop (or resolve) this one.
      let stopped = false;
      const loop = () => {
        if (stopped) return;
        if (performance.now() - started >= ms) {
          stopped = true;
          resolve(performance.now() - started);
          return;
        }
        call(performance.now(), loop);
      };
      for (let k = 0; k < (a.concurrency ?? 32); k++) loop();
    });
  };

  await run(a.warmupMs);
  recording = true;
  const elapsedMs = await run(a.durationMs);
  // Let the calls of the window finish (they count; open-loop latency includes their wait).
  const drainUntil = performance.now() + 5000;
  while (inflight > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 5));
  recording = false;
  if (inflight > 0) {
    errors += inflight;
    errorSample ??= `${inflight} calls still unanswered 5 s after the window`;
  }
  await Promise.all(sessions.map((s) => new Promise<void>((resolve) => {
    s.close(() => resolve());
    setTimeout(() => { s.destroy(); resolve(); }, 2000);
  })));
  return { count, errors, errorSample, dropped, elapsedMs, latency: latency.toJSON(), client: selfUsage() };
}

serveIpc({
  "open-fanout": openFanout,
  "prime-fanout": primeFanout,
  "start-publisher": startPublisher,
  "stop-publisher": stopPublisher,
  "measure-fanout": measureFanout,
  "close-fanout": closeFanout,
  "sample-event": () => (fanout?.lastSample === undefined ? undefined : fanout.lastSample.toString("base64")),
  unary,
  "redis-unary": redisDirectUnary,
  "redis-streams-latency": redisStreamsLatency,
  "daprd-stream-latency": daprdStreamLatency,
  "jetstream-latency": jetstreamLatency,
  "nats-publish-probe": natsPublishProbe,
  usage: () => selfUsage(),
});
process.send?.({ type: "ready" });
