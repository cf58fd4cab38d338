/**
 * The unary fast path (src/server/unary-call.ts) against real Connect clients: every protocol,
 * HTTP version and codec the Connect clients speak gets the same answers and the same errors
 * (code, message, metadata) as the same app's Connect router gives in process; requests the fast
 * path leaves to Connect (compressed, oversized) get Connect's answers. Also deadlines (kept on the fast path), a deadline over
 * the configured maximum (Connect's answer), and the raw bytes on the wire for gRPC and Connect.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Client, type Transport } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { GetStateRequestSchema, GetStateResponseSchema, State } from "../../gen/virtufin/api/v1/state_pb.js";
import { EmbeddedAdapter } from "../../src/dapr/embedded/embedded-adapter.js";
import { splitEnvelopes } from "../../src/server/framing.js";
import { runId, startGateway, tempDir, type RunningGateway } from "../support/gateway.js";
import { grpcFrame } from "../support/raw-http2.js";

type Variant = { name: string; transport: Transport };

/** Every Connect client variant; `gzip` makes each send compressed bodies, which the fast path leaves to Connect. */
function allTransports(baseUrl: string, compressed = false): Variant[] {
  const gzip = compressed ? { sendCompression: compressionGzip, compressMinBytes: 0 } : {};
  const out: Variant[] = [];
  for (const useBinaryFormat of [true, false]) {
    const codec = useBinaryFormat ? "binary" : "json";
    out.push({ name: `grpc ${codec} (h2)`, transport: createGrpcTransport({ baseUrl, useBinaryFormat, ...gzip }) });
    for (const httpVersion of ["1.1", "2"] as const) {
      out.push({ name: `grpc-web ${codec} (h${httpVersion})`, transport: createGrpcWebTransport({ baseUrl, httpVersion, useBinaryFormat, ...gzip }) });
      out.push({ name: `connect ${codec} (h${httpVersion})`, transport: createConnectTransport({ baseUrl, httpVersion, useBinaryFormat, ...gzip }) });
    }
  }
  return out;
}

/** Response headers of HTTP itself, which clients also put into an error's metadata. */
const TRANSPORT_HEADERS = new Set(["content-type", "content-length", "date", "connection", "keep-alive", "transfer-encoding"]);

/** The outcome of a call as a client sees it: the answer, or the error's code, message and metadata. */
async function outcome<T>(call: Promise<T>): Promise<unknown> {
  try {
    return { ok: await call };
  } catch (e) {
    const err = ConnectError.from(e);
    const metadata: Record<string, string> = {};
    err.metadata.forEach((v, k) => {
      if (!k.startsWith("grpc-") && !k.startsWith("trailer-") && !TRANSPORT_HEADERS.has(k)) metadata[k] = v;
    });
    return { code: Code[err.code], message: err.rawMessage, metadata };
  }
}

/** The same sequence of state calls on one client; every answer is recorded (etags normalised). */
async function script(client: Client<typeof State>, pubsub: Client<typeof Pubsub>, key: string): Promise<unknown[]> {
  const results: unknown[] = [];
  const push = async (p: Promise<unknown>) => results.push(await outcome(p));
  await push(client.getState({ service: "state", key }));
  await push(client.saveState({ service: "state", key, value: "v1 ⏱️ ünïcode" }));
  const got = await client.getState({ service: "state", key });
  results.push({ value: got.value, found: got.found, etagLooksRight: got.etag.length > 0 });
  await push(client.saveState({ service: "state", key, value: "v2", etag: "424242" }));
  await push(client.saveState({ service: "state", key, value: "v2", etag: got.etag }));
  await push(client.saveState({ service: "state", key: "a||b", value: "x" }));
  await push(client.saveState({ service: "no-such-service", key, value: "x" }));
  await push(client.getState({ service: "state", key: "" }));
  await push(client.registerKeys({ service: "state", keys: [`${key}-listed`] }));
  const all = await client.getAllState({ service: "state" });
  results.push({ listed: Object.keys(all.values).filter((k) => k.startsWith(key)).sort(), value: all.values[key] });
  await push(client.deleteState({ service: "state", key, etag: "424242" }));
  await push(client.deleteState({ service: "state", key }));
  await push(client.getState({ service: "state", key }));
  const published = await outcome(pubsub.publishEvent({ service: "workmanager", topic: `t.${key}`, data: new TextEncoder().encode("{}") }));
  results.push(typeof (published as { ok?: { messageId?: string } }).ok?.messageId === "string" ? "published" : published);
  await push(pubsub.publishEvent({ service: "workmanager", topic: "Bad Topic", data: new Uint8Array() }));
  return results;
}

describe("unary fast path: parity with Connect for every client", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
  });

  it("answers every state call and PublishEvent exactly as the Connect path does, on all ten client variants", async () => {
    const id = runId();
    const fast = allTransports(gw.baseUrl);
    assert.equal(fast.length, 10);
    // The reference: the same app's Connect router with the same interceptors, in process.
    const viaConnect = createRouterTransport(gw.app.routes, { router: gw.app.routerOptions });
    const expected = await script(createClient(State, viaConnect), createClient(Pubsub, viaConnect), `ref-${id}`);
    // The reference run itself shows the calls did something: a conflict, a refusal, a value.
    assert.deepEqual(expected[0], { ok: { key: `ref-${id}`, value: "", etag: "", found: false, $typeName: "virtufin.api.v1.GetStateResponse" } });
    assert.equal((expected[3] as { code: string }).code, "Aborted");
    assert.equal((expected[5] as { code: string }).code, "InvalidArgument");
    assert.equal((expected[6] as { code: string }).code, "NotFound");
    for (const [i, v] of fast.entries()) {
      const key = `k${i}-${id}`;
      const got = await script(createClient(State, v.transport), createClient(Pubsub, v.transport), key);
      const normalise = (rs: unknown[]) => JSON.parse(JSON.stringify(rs).replaceAll(key, "KEY").replaceAll(`ref-${id}`, "KEY"));
      assert.deepEqual(normalise(got), normalise(expected), v.name);
    }
  });

  it("leaves a compressed request to Connect, which refuses it as before (no compression is configured)", async () => {
    for (const v of allTransports(gw.baseUrl, true)) {
      const r = (await outcome(createClient(State, v.transport).getState({ service: "state", key: "k" }))) as { code?: string; message?: string };
      assert.equal(r.code, "Unimplemented", v.name);
      assert.match(r.message ?? "", /unknown compression "gzip"/, v.name);
    }
  });

  it("refuses an oversized request with RESOURCE_EXHAUSTED on every client", async () => {
    const big = "x".repeat(gw.app.config.maxMessageBytes + 10);
    for (const v of allTransports(gw.baseUrl)) {
      const r = (await outcome(createClient(State, v.transport).saveState({ service: "state", key: "big", value: big }))) as { code?: string };
      assert.equal(r.code, "ResourceExhausted", v.name);
    }
  });
});

/** The real embedded store, with getState of key "slow" held until its signal aborts, and of "deaf" for 300 ms ignoring it. */
class SlowStore extends EmbeddedAdapter {
  override async getState(store: string, service: string, key: string, signal?: AbortSignal) {
    if (key === "slow") {
      await new Promise<void>((_, reject) => {
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    if (key === "deaf") await new Promise((r) => setTimeout(r, 300));
    return super.getState(store, service, key);
  }
}

describe("unary fast path: deadlines", () => {
  let gw: RunningGateway;
  const data = tempDir();
  before(async () => {
    gw = await startGateway({ maxTimeoutMs: 60_000 }, { adapter: new SlowStore({ dataDir: data.path }) });
  });
  after(async () => {
    await gw.stop();
    data.remove();
  });

  it("answers within a deadline, and ends a call past it with DEADLINE_EXCEEDED, whether the handler honours its signal or not", async () => {
    for (const v of allTransports(gw.baseUrl)) {
      const client = createClient(State, v.transport);
      const ok = await outcome(client.getState({ service: "state", key: "fine" }, { timeoutMs: 5000 }));
      assert.deepEqual(ok, { ok: { key: "fine", value: "", etag: "", found: false, $typeName: "virtufin.api.v1.GetStateResponse" } }, v.name);
      for (const key of ["slow", "deaf"]) {
        const late = (await outcome(client.getState({ service: "state", key }, { timeoutMs: 100 }))) as { code?: string };
        assert.equal(late.code, "DeadlineExceeded", `${v.name} ${key}`);
      }
    }
  });

  it("leaves a deadline over --max-timeout-ms to Connect, which refuses it with INVALID_ARGUMENT", async () => {
    for (const v of allTransports(gw.baseUrl)) {
      const r = (await outcome(createClient(State, v.transport).getState({ service: "state", key: "fine" }, { timeoutMs: 120_000 }))) as { code?: string; message?: string };
      assert.equal(r.code, "InvalidArgument", v.name);
      assert.match(r.message ?? "", /timeout 120000ms must be <= 60000/, v.name);
    }
  });
});

describe("unary fast path: bytes on the wire", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
  });

  it("gRPC: HEADERS with the content type, one data envelope, trailers with grpc-status 0; an error in the trailers", async () => {
    const session = http2.connect(gw.baseUrl);
    try {
      const call = (key: string, service = "state") =>
        new Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer; trailers: http2.IncomingHttpHeaders }>((resolve, reject) => {
          const s = session.request({ ":method": "POST", ":path": "/virtufin.api.v1.State/GetState", "content-type": "application/grpc", te: "trailers" });
          let headers: http2.IncomingHttpHeaders = {};
          const chunks: Buffer[] = [];
          s.on("response", (h) => (headers = h));
          s.on("data", (c: Buffer) => chunks.push(c));
          s.on("trailers", (trailers) => s.on("close", () => resolve({ headers, body: Buffer.concat(chunks), trailers })));
          s.on("error", reject);
          s.end(grpcFrame(GetStateRequestSchema, { service, key }));
        });
      const ok = await call("absent");
      assert.equal(ok.headers[":status"], 200);
      assert.equal(ok.headers["content-type"], "application/grpc+proto");
      const frames = splitEnvelopes(ok.body);
      assert.equal(frames.length, 1);
      assert.equal(frames[0]!.flags, 0);
      assert.deepEqual(fromBinary(GetStateResponseSchema, frames[0]!.body).found, false);
      assert.equal(ok.trailers["grpc-status"], "0");
      const refused = await call("absent", "no-such-service");
      assert.equal(refused.body.byteLength, 0);
      assert.equal(refused.trailers["grpc-status"], String(Code.NotFound));
      assert.match(decodeURIComponent(String(refused.trailers["grpc-message"])), /no-such-service/);
    } finally {
      session.close();
    }
  });

  it("Connect over HTTP/1.1: the JSON answer with its content length; an error as JSON with the HTTP status of its code", async () => {
    const post = (body: unknown) =>
      fetch(`${gw.baseUrl}/virtufin.api.v1.State/GetState`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const ok = await post({ service: "state", key: "absent" });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "application/json");
    const text = await ok.text();
    assert.equal(ok.headers.get("content-length"), String(Buffer.byteLength(text)));
    assert.deepEqual(JSON.parse(text), { key: "absent" });
    const refused = await post({ service: "no-such-service", key: "k" });
    assert.equal(refused.status, 404);
    assert.equal(refused.headers.get("content-type"), "application/json");
    const error = (await refused.json()) as { code: string; message: string };
    assert.equal(error.code, "not_found");
    assert.match(error.message, /no-such-service/);
    const misspelt = await post({ service: "state", kee: "k" });
    assert.equal(misspelt.status, 400);
    assert.equal(((await misspelt.json()) as { code: string }).code, "invalid_argument");
  });
});
