/**
 * The pure parts of the Subscribe fast path: which requests it takes, the request envelope it
 * accepts, and frames built once per message and codec, byte-identical to Connect's.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, equals, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { StreamEventSchema } from "../../gen/virtufin/api/v1/common_pb.js";
import { fastStreamWire } from "../../src/server/event-stream-call.js";
import { singleEnvelope } from "../../src/server/fast-path.js";
import { decodedFrom, envelope, frameOf, responseCodec, splitEnvelopes } from "../../src/server/framing.js";

describe("fastStreamWire", () => {
  const post = (headers: Record<string, string>, httpVersion = 2) => fastStreamWire("POST", httpVersion, headers);

  it("takes every identity-encoded streaming content type and answers with Connect's content type", () => {
    assert.deepEqual(post({ "content-type": "application/grpc" }), { protocol: "grpc", codec: "proto", responseContentType: "application/grpc+proto" });
    assert.deepEqual(post({ "content-type": "application/grpc+json" }), { protocol: "grpc", codec: "json", responseContentType: "application/grpc+json" });
    assert.equal(post({ "content-type": "application/grpc-web+proto" }, 1)?.protocol, "grpc-web");
    assert.equal(post({ "content-type": "application/grpc-web+json" }, 1)?.codec, "json");
    assert.deepEqual(post({ "content-type": "application/connect+json" }, 1), { protocol: "connect", codec: "json", responseContentType: "application/connect+json" });
    assert.equal(post({ "content-type": "application/connect+proto", "grpc-encoding": "identity" })?.codec, "proto");
  });

  it("leaves compression, deadlines, gRPC over HTTP/1.1, other methods and unknown types to Connect", () => {
    assert.equal(post({ "content-type": "application/grpc", "grpc-encoding": "gzip" }), undefined);
    assert.equal(post({ "content-type": "application/connect+proto", "connect-content-encoding": "gzip" }), undefined);
    assert.equal(post({ "content-type": "application/grpc", "grpc-timeout": "1S" }), undefined);
    assert.equal(post({ "content-type": "application/connect+json", "connect-timeout-ms": "100" }), undefined);
    assert.equal(post({ "content-type": "application/grpc" }, 1), undefined);
    assert.equal(post({ "content-type": "application/grpc-web-text" }), undefined);
    assert.equal(post({ "content-type": "application/json" }), undefined);
    assert.equal(fastStreamWire("GET", 2, { "content-type": "application/grpc" }), undefined);
  });
});

describe("singleEnvelope", () => {
  it("returns the body of exactly one uncompressed envelope within the limit", () => {
    assert.deepEqual([...(singleEnvelope(envelope(new Uint8Array([1, 2, 3])), 10) ?? [])], [1, 2, 3]);
    assert.deepEqual([...(singleEnvelope(envelope(new Uint8Array()), 10) ?? [9])], []);
  });

  it("refuses compressed, truncated, trailing, oversized or missing messages", () => {
    assert.equal(singleEnvelope(envelope(new Uint8Array([1]), 1), 10), undefined, "compressed flag");
    assert.equal(singleEnvelope(envelope(new Uint8Array([1, 2])).subarray(0, 6), 10), undefined, "truncated");
    assert.equal(singleEnvelope(Buffer.concat([envelope(new Uint8Array([1])), envelope(new Uint8Array([2]))]), 10), undefined, "two messages");
    assert.equal(singleEnvelope(envelope(new Uint8Array(11)), 10), undefined, "over readMaxBytes");
    assert.equal(singleEnvelope(new Uint8Array(), 10), undefined, "empty body");
  });
});

describe("frames", () => {
  const event = create(StreamEventSchema, { service: "workmanager", topic: "workmanager.t", eventType: "pubsub", data: new Uint8Array([0, 255]), messageId: "m-1", metadata: { "ce-id": "m-1", "ce-subject": "ünï" } });

  it("are the 5-byte envelope of the binary or JSON encoding", () => {
    const [binary] = splitEnvelopes(frameOf(StreamEventSchema, event, "proto"));
    assert.equal(binary?.flags, 0);
    assert.deepEqual(Buffer.from(binary!.body), Buffer.from(toBinary(StreamEventSchema, event)));
    const [json] = splitEnvelopes(frameOf(StreamEventSchema, event, "json"));
    assert.equal(Buffer.from(json!.body).toString("utf8"), toJsonString(StreamEventSchema, event));
  });

  it("are built once per message and codec and shared", () => {
    assert.equal(frameOf(StreamEventSchema, event, "proto"), frameOf(StreamEventSchema, event, "proto"));
    assert.notEqual(frameOf(StreamEventSchema, event, "proto"), frameOf(StreamEventSchema, event, "json"));
  });

  it("of a message decoded from binary are those bytes, not a new encoding; JSON is still encoded", () => {
    // The same event with its fields in another order (ce-subject's map entry first): valid
    // protobuf that toBinary would never write, so only the remembered bytes can produce it.
    const reordered = Buffer.concat([
      toBinary(StreamEventSchema, create(StreamEventSchema, { metadata: { "ce-subject": "ünï" } })),
      toBinary(StreamEventSchema, create(StreamEventSchema, { ...event, metadata: { "ce-id": "m-1" } })),
    ]);
    const decoded = decodedFrom(fromBinary(StreamEventSchema, reordered), reordered);
    assert.ok(equals(StreamEventSchema, decoded, event), "the bytes decode to the same event");
    assert.notDeepEqual(Buffer.from(toBinary(StreamEventSchema, decoded)), reordered, "toBinary writes other bytes");
    // JSON first: a JSON subscriber ahead of the binary ones does not use up the bytes.
    const [json] = splitEnvelopes(frameOf(StreamEventSchema, decoded, "json"));
    assert.equal(Buffer.from(json!.body).toString("utf8"), toJsonString(StreamEventSchema, decoded));
    const [binary] = splitEnvelopes(frameOf(StreamEventSchema, decoded, "proto"));
    assert.deepEqual(Buffer.from(binary!.body), reordered);
    assert.throws(() => frameOf(StreamEventSchema, decoded, "proto", reordered.byteLength - 1), /larger than configured writeMaxBytes/);
  });

  it("refuse a message over writeMaxBytes with RESOURCE_EXHAUSTED, as Connect does", () => {
    assert.throws(() => frameOf(StreamEventSchema, event, "proto", 4), /larger than configured writeMaxBytes 4/);
  });

  it("map Connect's response content types to codecs", () => {
    assert.equal(responseCodec("application/grpc+proto"), "proto");
    assert.equal(responseCodec("application/connect+json"), "json");
    assert.equal(responseCodec("application/proto"), undefined);
    assert.equal(responseCodec(null), undefined);
  });
});
