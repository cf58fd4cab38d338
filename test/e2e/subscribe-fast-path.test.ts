/**
 * The Subscribe fast path (src/server/event-stream-call.ts) against real Connect clients: every
 * protocol, HTTP version and codec the Connect clients speak sees the same events, the same
 * headers-first behaviour and the same errors, whether the call takes the fast path or falls
 * back to Connect (a deadline header, a compressed request). Also: the bytes of the end of a
 * stream on the wire, as a raw HTTP/2 client sees them.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { Gateway, SubscribeRequestSchema } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { hashToken } from "../../src/auth/identity.js";
import { splitEnvelopes } from "../../src/server/framing.js";
import { openStream, runId, startGateway, tempDir, type OpenStream, type RunningGateway } from "../support/gateway.js";
import { grpcFrame } from "../support/raw-http2.js";

/** Every transport variant of the Connect clients: protocol x HTTP version x codec. */
function allTransports(baseUrl: string, interceptors: Interceptor[] = []): Array<{ name: string; transport: Transport }> {
  const out: Array<{ name: string; transport: Transport }> = [];
  for (const useBinaryFormat of [true, false]) {
    const codec = useBinaryFormat ? "binary" : "json";
    out.push({ name: `grpc ${codec} (h2)`, transport: createGrpcTransport({ baseUrl, useBinaryFormat, interceptors }) });
    for (const httpVersion of ["1.1", "2"] as const) {
      out.push({ name: `grpc-web ${codec} (h${httpVersion})`, transport: createGrpcWebTransport({ baseUrl, httpVersion, useBinaryFormat, interceptors }) });
      out.push({ name: `connect ${codec} (h${httpVersion})`, transport: createConnectTransport({ baseUrl, httpVersion, useBinaryFormat, interceptors }) });
    }
  }
  return out;
}

async function codeOfStream(p: Promise<OpenStream<StreamEvent>>): Promise<Code | "ok"> {
  try {
    const stream = await p;
    await stream.next();
    return "ok";
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

/** What identifies an event on the wire, whatever the codec. */
function summary(ev: StreamEvent) {
  return { messageId: ev.messageId, topic: ev.topic, service: ev.service, eventType: ev.eventType, timestamp: ev.timestamp, data: [...ev.data], metadata: { ...ev.metadata } };
}

describe("Subscribe fast path: parity with Connect for every client", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
  });

  it("delivers the same events, in order, to all ten client variants at once, headers first", async () => {
    const topic = `workmanager.${runId()}`;
    const variants = allTransports(gw.baseUrl);
    assert.equal(variants.length, 10);
    // openStream resolves on the response headers: every client knows it is subscribed before any event.
    const streams = await Promise.all(variants.map((v) => openStream(v.transport, Pubsub.method.subscribe, { service: "workmanager", topic })));
    try {
      assert.equal(gw.app.deps.subscribers.stats.active, variants.length);
      const pubsub = createClient(Pubsub, createGrpcTransport({ baseUrl: gw.baseUrl }));
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const data = new TextEncoder().encode(JSON.stringify({ seq: i, text: "ünïcode ⏱️" }));
        ids.push((await pubsub.publishEvent({ service: "workmanager", topic, data, metadata: { "ce-subject": `s${i}` } })).messageId);
      }
      const received = await Promise.all(
        streams.map(async (s) => {
          const got: StreamEvent[] = [];
          for (let i = 0; i < 5; i++) got.push((await s.next()) as StreamEvent);
          return got;
        }),
      );
      const reference = received[0]!.map(summary);
      assert.deepEqual(reference.map((e) => e.messageId), ids, "events arrive in publish order");
      assert.equal(reference[2]!.metadata["ce-subject"], "s2");
      for (const [i, got] of received.entries()) {
        assert.deepEqual(got.map(summary), reference, `${variants[i]!.name} saw the same events`);
      }
    } finally {
      for (const s of streams) s.close();
    }
  });

  it("answers a filter it cannot serve with INVALID_ARGUMENT on every client", async () => {
    for (const { name, transport } of allTransports(gw.baseUrl)) {
      const code = await codeOfStream(openStream(transport, Gateway.method.subscribe, { eventTypes: ["no-such-type"] }));
      assert.equal(code, Code.InvalidArgument, name);
    }
    assert.equal(gw.app.deps.subscribers.stats.active, 0);
  });

  it("falls back to Connect for a call with a deadline, which still streams and then ends with DEADLINE_EXCEEDED", async () => {
    const topic = `workmanager.${runId()}`;
    for (const { name, transport } of allTransports(gw.baseUrl)) {
      const client = createClient(Pubsub, transport);
      const events = client.subscribe({ service: "workmanager", topic }, { timeoutMs: 1000 });
      const it = events[Symbol.asyncIterator]();
      const first = it.next();
      await new Promise((r) => setTimeout(r, 250)); // the subscription is registered by now
      const res = await createClient(Pubsub, createGrpcTransport({ baseUrl: gw.baseUrl })).publishEvent({ service: "workmanager", topic, data: new Uint8Array([7]) });
      const got = await first;
      assert.equal(got.done, false, name);
      assert.equal(got.value?.messageId, res.messageId, name);
      await assert.rejects(it.next(), (e) => ConnectError.from(e).code === Code.DeadlineExceeded, name);
    }
  });

  it("falls back to Connect for a compressed request, answered as before (no compression is configured)", async () => {
    for (const transport of [
      createGrpcTransport({ baseUrl: gw.baseUrl, sendCompression: compressionGzip, compressMinBytes: 0 }),
      createConnectTransport({ baseUrl: gw.baseUrl, httpVersion: "2", sendCompression: compressionGzip, compressMinBytes: 0 }),
    ]) {
      const code = await codeOfStream(openStream(transport, Gateway.method.subscribe, { topics: ["workmanager.x"] }));
      assert.equal(code, Code.Unimplemented);
    }
  });

  it("ends every open stream with UNAVAILABLE when the gateway shuts down", async () => {
    const own = await startGateway();
    const variants = allTransports(own.baseUrl);
    const streams = await Promise.all(variants.map((v) => openStream(v.transport, Gateway.method.subscribe, {})));
    const endings = streams.map((s) => s.next(10_000).then(() => "ended without error" as const, (e: unknown) => ConnectError.from(e).code));
    await own.stop();
    const codes = await Promise.all(endings);
    for (const [i, code] of codes.entries()) assert.equal(code, Code.Unavailable, variants[i]!.name);
  });

  it("writes gRPC data frames and ends with grpc-status trailers on the wire", async () => {
    const topic = `workmanager.${runId()}`;
    const session = http2.connect(gw.baseUrl);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/virtufin.api.v1.Gateway/Subscribe", "content-type": "application/grpc", te: "trailers" });
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
        stream.once("response", resolve);
        stream.end(grpcFrame(SubscribeRequestSchema, { topics: [topic] }));
      });
      assert.equal(headers[":status"], 200);
      assert.equal(headers["content-type"], "application/grpc+proto");
      const pubsub = createClient(Pubsub, createGrpcTransport({ baseUrl: gw.baseUrl }));
      const id = (await pubsub.publishEvent({ service: "workmanager", topic, data: new Uint8Array([1, 2]) })).messageId;
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("trailers", resolve));
      await new Promise((r) => setTimeout(r, 200));
      gw.app.deps.subscribers.closeAll(new ConnectError("test says stop", Code.Unavailable));
      const t = await trailers;
      assert.equal(t["grpc-status"], String(Code.Unavailable));
      assert.equal(decodeURIComponent(String(t["grpc-message"])), "test says stop");
      const frames = splitEnvelopes(Buffer.concat(chunks));
      assert.equal(frames.length, 1);
      assert.equal(frames[0]!.flags, 0);
      assert.equal(fromBinary(StreamEventSchema, frames[0]!.body).messageId, id);
    } finally {
      session.destroy();
    }
  });
});

describe("Subscribe fast path: access control on every client", () => {
  const dir = tempDir();
  const TOKEN = "token-for-workmanager-fastpath-01";
  let gw: RunningGateway;
  before(async () => {
    const policyFile = join(dir.path, "policy.json");
    writeFileSync(
      policyFile,
      JSON.stringify({
        auth: { tokens: [{ service: "workmanager", sha256: hashToken(TOKEN) }] },
        permissions: { services: { workmanager: { subscribe: { allow: ["workmanager.>"] } } } },
      }),
    );
    gw = await startGateway({ policyFile });
  });
  after(async () => {
    await gw.stop();
    dir.remove();
  });

  it("refuses a caller without credentials (UNAUTHENTICATED) and a filter outside its permissions (PERMISSION_DENIED)", async () => {
    const bearer: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${TOKEN}`);
      return next(req);
    };
    const anonymous = allTransports(gw.baseUrl);
    const authorised = allTransports(gw.baseUrl, [bearer]);
    for (const [i, { name, transport }] of anonymous.entries()) {
      assert.equal(await codeOfStream(openStream(transport, Gateway.method.subscribe, { topics: ["workmanager.a"] })), Code.Unauthenticated, name);
      const own = authorised[i]!.transport;
      assert.equal(await codeOfStream(openStream(own, Gateway.method.subscribe, { topics: ["websocketmanager.b"] })), Code.PermissionDenied, name);
      const allowed = await openStream(own, Gateway.method.subscribe, { topics: ["workmanager.a"] });
      allowed.close();
    }
  });
});
