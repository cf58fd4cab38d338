/**
 * Limits are configured, enforced and answered with the right code: message and header sizes,
 * HTTP/2 concurrent streams, subscribers, deadlines, malformed bodies, CORS.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Gateway, SubscribeRequestSchema } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { eventually, openStream, startGateway, type RunningGateway } from "../support/gateway.js";
import { grpcFrame, openRawGrpcStream } from "../support/raw-http2.js";

const MAX_MESSAGE = 64 * 1024;

async function post(url: string, contentType: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": contentType, ...headers }, body });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, json, headers: res.headers };
}

describe("limits and malformed input", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({
      maxMessageBytes: MAX_MESSAGE,
      maxValueBytes: MAX_MESSAGE,
      http2MaxConcurrentStreams: 4,
      maxSubscribers: 6,
      maxTimeoutMs: 2000,
      maxHeaderBytes: 8192,
      corsOrigins: ["https://dashboard.example"],
    });
  });
  after(async () => {
    await gw.stop();
  });
  const url = (path: string) => `${gw.baseUrl}${path}`;
  const saveUrl = () => url("/virtufin.api.v1.State/SaveState");

  it("rejects a request body over the message limit with RESOURCE_EXHAUSTED, over every protocol", async () => {
    const big = "x".repeat(MAX_MESSAGE + 10);
    const res = await post(saveUrl(), "application/json", JSON.stringify({ service: "state", key: "big", value: big }));
    assert.equal(res.json["code"], "resource_exhausted");
    const grpc = createClient(State, createGrpcTransport({ baseUrl: gw.baseUrl }));
    await assert.rejects(grpc.saveState({ service: "state", key: "big", value: big }), (e) => ConnectError.from(e).code === Code.ResourceExhausted);
    const read = await createClient(State, createGrpcTransport({ baseUrl: gw.baseUrl })).getState({ service: "state", key: "big" });
    assert.equal(read.found, false, "nothing was stored");
  });

  it("answers a body that is not valid JSON (INVALID_ARGUMENT) or protobuf (INTERNAL, as gRPC servers do) with a message that says so", async () => {
    const json = await post(saveUrl(), "application/json", "{not json");
    assert.equal(json.status, 400);
    assert.equal(json.json["code"], "invalid_argument");
    const proto = await post(saveUrl(), "application/proto", new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    // gRPC servers (grpc-go, grpc-java) answer an unparsable request message with INTERNAL; so do we.
    assert.equal(proto.json["code"], "internal");
    assert.match(String(proto.json["message"]), /parse binary/);
    const unknownField = await post(saveUrl(), "application/json", JSON.stringify({ service: "state", key: "k", bogus: 1 }));
    assert.equal(unknownField.json["code"], "invalid_argument");
  });

  it("answers an unsupported content type with 415 and an unknown path with 404", async () => {
    assert.equal((await post(saveUrl(), "text/plain", "hello")).status, 415);
    assert.equal((await post(url("/virtufin.api.v1.State/NoSuchMethod"), "application/json", "{}")).status, 404);
  });

  it("refuses a header block over the limit", async () => {
    const res = await fetch(saveUrl(), {
      method: "POST",
      headers: { "content-type": "application/json", "x-filler": "y".repeat(16 * 1024) },
      body: "{}",
    });
    assert.equal(res.status, 431);
  });

  it("refuses a deadline longer than the maximum with INVALID_ARGUMENT", async () => {
    const state = createClient(State, createConnectTransport({ baseUrl: gw.baseUrl, httpVersion: "1.1" }));
    await assert.rejects(state.getState({ service: "state", key: "k" }, { timeoutMs: 60_000 }), (e) => ConnectError.from(e).code === Code.InvalidArgument);
    assert.equal((await state.getState({ service: "state", key: "k" }, { timeoutMs: 1000 })).found, false);
  });

  it("limits concurrent HTTP/2 streams per connection", async () => {
    const session = http2.connect(gw.baseUrl);
    try {
      // All five streams go out before the server's SETTINGS arrive, as a client that ignores the
      // limit would send them (once Node's client knows the limit, it queues extra streams itself).
      const frame = grpcFrame(SubscribeRequestSchema, {});
      const streams = Array.from({ length: 5 }, () => openRawGrpcStream(session, "/virtufin.api.v1.Gateway/Subscribe", frame));
      const fifth = streams[4]!;
      await Promise.all(streams.slice(0, 4).map((s) => s.headers));
      assert.equal(session.remoteSettings.maxConcurrentStreams, 4);
      const end = await fifth.closed;
      assert.equal(end.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM, "the fifth stream was refused, not queued");
      assert.equal(gw.app.deps.subscribers.stats.active, 4);
    } finally {
      session.destroy();
    }
    await eventually(() => gw.app.deps.subscribers.stats.active === 0, "the streams to be removed");
  });

  it("ends a Subscribe over the subscriber limit with RESOURCE_EXHAUSTED", async () => {
    const transport = createConnectTransport({ baseUrl: gw.baseUrl, httpVersion: "1.1" });
    const streams = [];
    try {
      for (let i = 0; i < 6; i++) streams.push(await openStream(transport, Gateway.method.subscribe, {}));
      const seventh = await openStream(transport, Gateway.method.subscribe, {}).catch((e: unknown) => e);
      const code = seventh instanceof Error ? ConnectError.from(seventh).code : await (seventh as { next(): Promise<unknown> }).next().then(() => undefined, (e: unknown) => ConnectError.from(e).code);
      assert.equal(code, Code.ResourceExhausted);
    } finally {
      for (const s of streams) s.close();
    }
    await eventually(() => gw.app.deps.subscribers.stats.active === 0, "the streams to be removed");
  });

  it("answers CORS preflights for allowed origins only", async () => {
    const preflight = (origin: string) =>
      fetch(saveUrl(), {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization" },
      });
    const allowed = await preflight("https://dashboard.example");
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://dashboard.example");
    assert.match(allowed.headers.get("access-control-allow-headers") ?? "", /Authorization/);
    assert.match(allowed.headers.get("vary") ?? "", /Origin/);
    const foreign = await preflight("https://evil.example");
    assert.equal(foreign.headers.get("access-control-allow-origin"), null);

    const call = await post(saveUrl(), "application/json", JSON.stringify({ service: "state", key: "cors", value: "v" }), {
      origin: "https://dashboard.example",
    });
    assert.equal(call.status, 200);
    assert.match(call.headers.get("access-control-expose-headers") ?? "", /Grpc-Status/);
  });
});
