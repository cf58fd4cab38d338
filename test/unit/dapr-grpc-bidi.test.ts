/**
 * The bidirectional stream of the sidecar's gRPC client (GrpcUnaryClient.bidi, used by the
 * streaming subscription) against a real node:http2 server on loopback that speaks the Dapr
 * subscription as daprd does: messages split across and packed into DATA frames are parsed in
 * order, acks sent in one turn arrive (written together), the status in the trailers ends the
 * stream, cancel() resets it, and a refused connection ends it as UNAVAILABLE.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Dapr,
  SubscribeTopicEventsRequestAlpha1Schema,
  SubscribeTopicEventsResponseAlpha1Schema,
  type SubscribeTopicEventsResponseAlpha1,
} from "@dapr/dapr/proto/dapr/proto/runtime/v1/dapr_pb.js";
import { TopicEventResponse_TopicEventResponseStatus as AckStatus } from "@dapr/dapr/proto/dapr/proto/runtime/v1/appcallback_pb.js";
import { classifyDaprError, provesNotSent } from "../../src/dapr/resilience.js";
import { GrpcUnaryClient } from "../../src/dapr/sidecar/grpc-unary-client.js";
import { envelope } from "../../src/server/framing.js";

const EVENTS = 50;

function eventFrame(i: number): Buffer {
  const res = create(SubscribeTopicEventsResponseAlpha1Schema, {
    subscribeTopicEventsResponseType: { case: "eventMessage", value: { id: `e${i}`, data: new TextEncoder().encode(`event ${i}`) } },
  });
  return Buffer.from(envelope(toBinary(SubscribeTopicEventsResponseAlpha1Schema, res)));
}

/**
 * A subscription server: answers the initial request, then sends EVENTS events (in awkward DATA
 * frame cuts) and, once every event is acked, ends with `finalStatus` in the trailers.
 */
function startServer(finalStatus: string): Promise<{ server: http2.Http2Server; port: number; acks: string[] }> {
  const acks: string[] = [];
  const server = http2.createServer();
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": finalStatus, "grpc-message": encodeURIComponent("bye: ü") }));
    let buffered = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.byteLength >= 5 && buffered.byteLength >= 5 + buffered.readUInt32BE(1)) {
        const length = buffered.readUInt32BE(1);
        const req = fromBinary(SubscribeTopicEventsRequestAlpha1Schema, buffered.subarray(5, 5 + length));
        buffered = buffered.subarray(5 + length);
        const type = req.subscribeTopicEventsRequestType;
        if (type.case === "initialRequest") {
          const initial = create(SubscribeTopicEventsResponseAlpha1Schema, { subscribeTopicEventsResponseType: { case: "initialResponse", value: {} } });
          const all = Buffer.concat([Buffer.from(envelope(toBinary(SubscribeTopicEventsResponseAlpha1Schema, initial))), ...Array.from({ length: EVENTS }, (_, i) => eventFrame(i))]);
          // Cut at odd places so envelopes straddle DATA frames, and several share one.
          for (let at = 0; at < all.byteLength; at += 7) stream.write(all.subarray(at, at + 7));
        } else if (type.case === "eventProcessed") {
          assert.equal(type.value.status?.status, AckStatus.SUCCESS);
          acks.push(type.value.id);
          if (acks.length === EVENTS) stream.end();
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port, acks })));
}

function subscribe(client: GrpcUnaryClient, ackEach: boolean): { messages: SubscribeTopicEventsResponseAlpha1[]; ended: Promise<ConnectError | undefined>; cancel(): void } {
  const messages: SubscribeTopicEventsResponseAlpha1[] = [];
  let ended!: (e: ConnectError | undefined) => void;
  const done = new Promise<ConnectError | undefined>((resolve) => (ended = resolve));
  const call = client.bidi(Dapr.method.subscribeTopicEventsAlpha1, {
    onMessage: (m) => {
      messages.push(m);
      const t = m.subscribeTopicEventsResponseType;
      if (ackEach && t.case === "eventMessage") {
        call.send({ subscribeTopicEventsRequestType: { case: "eventProcessed", value: { id: t.value.id, status: { status: AckStatus.SUCCESS } } } });
      }
    },
    onEnd: ended,
  });
  call.send({ subscribeTopicEventsRequestType: { case: "initialRequest", value: { pubsubName: "pubsub", topic: "t", metadata: {} } } });
  return { messages, ended: done, cancel: () => call.cancel() };
}

describe("GrpcUnaryClient.bidi (the subscription stream)", () => {
  let ok: Awaited<ReturnType<typeof startServer>>;
  let failing: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    ok = await startServer("0");
    failing = await startServer("14");
  });
  after(() => {
    ok.server.close();
    failing.server.close();
  });

  it("parses messages in order across DATA frame cuts, delivers the acks, ends OK on status 0", async () => {
    const client = new GrpcUnaryClient(`http://127.0.0.1:${ok.port}`);
    const s = subscribe(client, true);
    assert.equal(await s.ended, undefined);
    assert.equal(s.messages[0]?.subscribeTopicEventsResponseType.case, "initialResponse");
    const ids = s.messages.slice(1).map((m) => (m.subscribeTopicEventsResponseType.case === "eventMessage" ? m.subscribeTopicEventsResponseType.value.id : "?"));
    assert.deepEqual(ids, Array.from({ length: EVENTS }, (_, i) => `e${i}`));
    assert.deepEqual(ok.acks, ids);
    client.close();
  });

  it("ends with the status and decoded message of the trailers", async () => {
    const client = new GrpcUnaryClient(`http://127.0.0.1:${failing.port}`);
    const s = subscribe(client, true);
    const err = await s.ended;
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.Unavailable);
    assert.equal(err.rawMessage, "bye: ü");
    client.close();
  });

  it("cancel() ends the stream as CANCELED", async () => {
    const client = new GrpcUnaryClient(`http://127.0.0.1:${ok.port}`);
    const s = subscribe(client, false); // never acks, so the server never ends it
    while (s.messages.length < EVENTS + 1) await new Promise((r) => setTimeout(r, 5));
    s.cancel();
    assert.equal((await s.ended)?.code, Code.Canceled);
    client.close();
  });

  it("a refused connection ends the stream as UNAVAILABLE, ECONNREFUSED in its causes", async () => {
    const closed = await startServer("0");
    closed.server.close();
    const client = new GrpcUnaryClient(`http://127.0.0.1:${closed.port}`);
    const err = await subscribe(client, true).ended;
    assert.equal(err?.code, Code.Unavailable);
    assert.equal(classifyDaprError(err), "transient");
    assert.equal(provesNotSent(err), true);
    client.close();
  });
});
