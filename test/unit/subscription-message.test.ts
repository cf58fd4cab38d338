/**
 * readSubscriptionMessage against protobuf-es's fromBinary of the whole message, on the messages
 * daprd sends and on random ones (every field, CloudEvent extensions, unknown fields, messages
 * concatenated so protobuf's merge rules apply).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { JsonValue } from "@bufbuild/protobuf";
import { SubscribeTopicEventsResponseAlpha1Schema } from "@dapr/dapr/proto/dapr/proto/runtime/v1/dapr_pb.js";
import { readSubscriptionMessage, type SubscriptionMessage } from "../../src/dapr/sidecar/subscription-message.js";

const Schema = SubscribeTopicEventsResponseAlpha1Schema;

/** What the reader must return, taken from the whole message as fromBinary reads it. */
function expected(bytes: Uint8Array): SubscriptionMessage {
  const message = fromBinary(Schema, bytes).subscribeTopicEventsResponseType;
  if (message.case === "eventMessage") return { case: "eventMessage", id: message.value.id, data: message.value.data };
  return { case: message.case };
}

function assertReadsLike(bytes: Uint8Array, what: string): void {
  const got = readSubscriptionMessage(bytes);
  const want = expected(bytes);
  assert.equal(got.case, want.case, `${what}: case`);
  if (got.case === "eventMessage" && want.case === "eventMessage") {
    assert.equal(got.id, want.id, `${what}: id`);
    assert.deepEqual(Buffer.from(got.data), Buffer.from(want.data), `${what}: data`);
  }
}

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function randomMessage(random: () => number): MessageInitShape<typeof Schema> {
  const int = (n: number) => Math.floor(random() * n);
  const text = () => Array.from({ length: int(40) }, () => String.fromCodePoint(int(3) === 0 ? 0x4e00 + int(200) : 0x20 + int(90))).join("");
  const value = (depth: number): JsonValue => {
    switch (int(depth > 2 ? 3 : 5)) {
      case 0:
        return text();
      case 1:
        return int(1000) / 7;
      case 2:
        return int(2) === 0;
      case 3:
        return Array.from({ length: int(3) }, () => value(depth + 1));
      default:
        return Object.fromEntries(Array.from({ length: int(3) }, () => [text(), value(depth + 1)]));
    }
  };
  if (int(4) === 0) return { subscribeTopicEventsResponseType: { case: "initialResponse", value: {} } };
  return {
    subscribeTopicEventsResponseType: {
      case: "eventMessage",
      value: {
        id: int(5) === 0 ? "" : text(),
        source: text(),
        type: text(),
        specVersion: "1.0",
        dataContentType: "application/json",
        data: Uint8Array.from({ length: int(5) === 0 ? 0 : int(900) }, () => int(256)),
        topic: text(),
        pubsubName: text(),
        path: text(),
        ...(int(2) === 0 ? {} : { extensions: { fields: Object.fromEntries(Array.from({ length: int(8) }, () => [text(), { kind: { case: "stringValue" as const, value: JSON.stringify(value(0)) } }])) } }),
      },
    },
  };
}

const encode = (init: MessageInitShape<typeof Schema>) => toBinary(Schema, create(Schema, init));

describe("readSubscriptionMessage", () => {
  it("reads daprd's initial response, an event with CloudEvent extensions, and an empty message", () => {
    assert.deepEqual(readSubscriptionMessage(encode({ subscribeTopicEventsResponseType: { case: "initialResponse", value: {} } })), { case: "initialResponse" });
    const data = new TextEncoder().encode('{"event":"CgR0ZXN0","publishedAt":1}');
    const event = encode({
      subscribeTopicEventsResponseType: {
        case: "eventMessage",
        value: {
          id: "0b7c6f1e-8a0e-4f6a-9d7e-3c1d2b4a5e6f",
          source: "virtufin/gateway",
          type: "com.virtufin.pubsub",
          specVersion: "1.0",
          dataContentType: "application/json",
          data,
          topic: "run.workmanager.t",
          pubsubName: "pubsub",
          extensions: { fields: { traceparent: { kind: { case: "stringValue", value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } } } },
        },
      },
    });
    const got = readSubscriptionMessage(event);
    assert.equal(got.case, "eventMessage");
    assert.equal(got.case === "eventMessage" && got.id, "0b7c6f1e-8a0e-4f6a-9d7e-3c1d2b4a5e6f");
    assert.deepEqual(got.case === "eventMessage" && Buffer.from(got.data), Buffer.from(data));
    assert.deepEqual(readSubscriptionMessage(new Uint8Array()), { case: undefined });
  });

  it("reads 500 random messages, alone and two or three concatenated, as fromBinary does", () => {
    const random = prng(20261206);
    for (let i = 0; i < 500; i++) {
      const one = encode(randomMessage(random));
      assertReadsLike(one, `message ${i}`);
      // Concatenated messages merge: the last value of a field wins, the last oneof case decides.
      const two = Buffer.concat([one, encode(randomMessage(random))]);
      assertReadsLike(two, `messages ${i} merged with the next`);
      // Event, initial response, event: the second event does not keep the first one's fields.
      const three = Buffer.concat([two, encode(randomMessage(random))]);
      assertReadsLike(three, `messages ${i} merged with the next two`);
    }
  });

  it("skips fields it does not know, at the top and inside the event", () => {
    const unknown = (fieldNo: number) => new BinaryWriter().tag(fieldNo, WireType.Varint).uint32(7).tag(fieldNo + 1, WireType.LengthDelimited).string("later field").finish();
    const event = encode({ subscribeTopicEventsResponseType: { case: "eventMessage", value: { id: "e-1", data: new Uint8Array([1, 2, 3]) } } });
    const innerWithUnknown = new BinaryWriter()
      .tag(2, WireType.LengthDelimited)
      .bytes(Buffer.concat([unknown(40), toBinary(Schema.field.eventMessage.message!, create(Schema.field.eventMessage.message!, { id: "e-2", data: new Uint8Array([4]) })), unknown(60)]))
      .finish();
    for (const [bytes, what] of [
      [Buffer.concat([unknown(50), event]), "unknown field before the event"],
      [Buffer.concat([event, unknown(50)]), "unknown field after the event"],
      [innerWithUnknown, "unknown fields inside the event"],
    ] as const) {
      assertReadsLike(bytes, what);
      assert.equal(readSubscriptionMessage(bytes).case, "eventMessage", what);
    }
  });

  it("throws on a truncated message, as fromBinary does", () => {
    const event = encode({ subscribeTopicEventsResponseType: { case: "eventMessage", value: { id: "e-1", data: new Uint8Array(100) } } });
    const cut = event.subarray(0, event.byteLength - 10);
    assert.throws(() => fromBinary(Schema, cut));
    assert.throws(() => readSubscriptionMessage(cut));
  });
});
