import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fastUnaryWire } from "../../src/server/unary-call.js";

describe("fastUnaryWire", () => {
  const post = (headers: Record<string, string>, httpVersion = 2, maxTimeoutMs = 60_000) => fastUnaryWire("POST", httpVersion, headers, maxTimeoutMs);

  it("takes identity-encoded gRPC, gRPC-Web and Connect unary requests and answers with Connect's content types", () => {
    assert.deepEqual(post({ "content-type": "application/grpc" }), { protocol: "grpc", codec: "proto", responseContentType: "application/grpc+proto", timeoutMs: undefined });
    assert.equal(post({ "content-type": "application/grpc+json" })?.codec, "json");
    assert.equal(post({ "content-type": "application/grpc-web+proto" }, 1)?.protocol, "grpc-web");
    assert.deepEqual(post({ "content-type": "application/json; charset=utf-8" }, 1), { protocol: "connect", codec: "json", responseContentType: "application/json", timeoutMs: undefined });
    assert.equal(post({ "content-type": "application/proto", "content-encoding": "identity" }, 1)?.codec, "proto");
  });

  it("keeps a valid deadline in milliseconds, in each protocol's own header", () => {
    assert.equal(post({ "content-type": "application/grpc", "grpc-timeout": "250m" })?.timeoutMs, 250);
    assert.equal(post({ "content-type": "application/grpc", "grpc-timeout": "2S" })?.timeoutMs, 2000);
    assert.equal(post({ "content-type": "application/proto", "connect-timeout-ms": "1500" }, 1)?.timeoutMs, 1500);
    // Each protocol reads only its own header.
    assert.equal(post({ "content-type": "application/proto", "grpc-timeout": "1m" }, 1)?.timeoutMs, undefined);
  });

  it("leaves compression, invalid or too long deadlines, gRPC over HTTP/1.1, Connect streaming, GET and unknown types to Connect", () => {
    assert.equal(post({ "content-type": "application/grpc", "grpc-encoding": "gzip" }), undefined);
    assert.equal(post({ "content-type": "application/json", "content-encoding": "gzip" }, 1), undefined);
    assert.equal(post({ "content-type": "application/grpc", "grpc-timeout": "soon" }), undefined);
    assert.equal(post({ "content-type": "application/grpc", "grpc-timeout": "2M" }), undefined, "over the maximum");
    assert.equal(post({ "content-type": "application/grpc" }, 1), undefined);
    assert.equal(post({ "content-type": "application/connect+proto" }), undefined);
    assert.equal(post({ "content-type": "text/plain" }, 1), undefined);
    assert.equal(fastUnaryWire("GET", 1, { "content-type": "application/json" }, 60_000), undefined);
  });
});
