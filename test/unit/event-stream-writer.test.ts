/**
 * pipeFeed's start: a response whose client has already gone ends the pipe at once with CANCELED
 * (its 'close' will not come again, so waiting for it would keep the subscriber forever), and a
 * live one gets the waiting messages in one write. The response here is a stand-in with the
 * methods the writer uses; the real transports are covered end to end in test/e2e.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { create, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { pipeFeed, type WritableResponse } from "../../src/server/event-stream-writer.js";
import { SubscriptionManager } from "../../src/events/subscription-manager.js";

class StandInResponse extends EventEmitter implements WritableResponse {
  readonly chunks: Uint8Array[] = [];
  destroyed = false;
  writableEnded = false;
  write(chunk: Uint8Array): boolean {
    this.chunks.push(chunk);
    return true;
  }
}

const filter = { services: new Set<string>(), topics: new Set(["t"]), eventTypes: new Set<never>() };
const event = (id: string): StreamEvent => create(StreamEventSchema, { service: "s", topic: "t", eventType: "pubsub", messageId: id });

describe("pipeFeed", () => {
  it("rejects with CANCELED at once when the response was already closed, and writes nothing", async () => {
    const m = new SubscriptionManager({ bufferSize: 10 });
    const feed = m.open({ filter });
    const res = new StandInResponse();
    res.destroyed = true;
    // Nothing is waiting, so only the start can notice; otherwise the pipe waits for ever.
    const stuck = new Promise((_, reject) => setTimeout(() => reject(new Error("the pipe is still waiting")), 2000).unref());
    await assert.rejects(Promise.race([pipeFeed(res, feed, { schema: StreamEventSchema, codec: "proto" }), stuck]), (err) => ConnectError.from(err).code === Code.Canceled);
    m.broadcast(event("m1"), { pinnedTopic: true });
    assert.deepEqual(res.chunks, []);
    assert.equal(res.listenerCount("close"), 0, "no listener left behind");
  });

  it("writes the waiting messages in one frame sequence, then ends with CANCELED when the response closes", async () => {
    const m = new SubscriptionManager({ bufferSize: 10 });
    const feed = m.open({ filter });
    m.broadcast(event("m1"), { pinnedTopic: true });
    m.broadcast(event("m2"), { pinnedTopic: true });
    const res = new StandInResponse();
    const piped = pipeFeed(res, feed, { schema: StreamEventSchema, codec: "proto" });
    assert.equal(res.chunks.length, 1, "both messages in one write");
    const bytes = Buffer.from(res.chunks[0]!);
    const first = bytes.readUInt32BE(1);
    assert.equal(fromBinary(StreamEventSchema, bytes.subarray(5, 5 + first)).messageId, "m1");
    assert.equal(fromBinary(StreamEventSchema, bytes.subarray(10 + first)).messageId, "m2");
    res.emit("close");
    await assert.rejects(piped, (err) => ConnectError.from(err).code === Code.Canceled);
  });
});
