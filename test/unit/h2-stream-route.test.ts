/**
 * Which HTTP/2 streams skip Node's compatibility layer (rpc-adapter.ts bareStreamRoute): a
 * fast-path method, in a shape the fast path serves, from a caller without an Origin header.
 * test/e2e/subscribe-h2-stream.test.ts shows both paths answer alike.
 */
import assert from "node:assert/strict";
import type * as http2 from "node:http2";
import { describe, it } from "node:test";
import { bareStreamRoute } from "../../src/server/rpc-adapter.js";

const SUBSCRIBE = "/virtufin.api.v1.Pubsub/Subscribe";
const fastPaths = new Map([[SUBSCRIBE, "subscribe-entry"]]);

function headers(extra: http2.IncomingHttpHeaders = {}): http2.IncomingHttpHeaders {
  return { ":method": "POST", ":path": SUBSCRIBE, "content-type": "application/grpc", te: "trailers", ...extra };
}

describe("bareStreamRoute", () => {
  it("takes a gRPC, gRPC-Web or Connect streaming call to a fast-path method", () => {
    for (const [contentType, protocol] of [
      ["application/grpc", "grpc"],
      ["application/grpc+json", "grpc"],
      ["application/grpc-web+proto", "grpc-web"],
      ["application/connect+proto", "connect"],
      ["application/connect+json", "connect"],
    ] as const) {
      const route = bareStreamRoute(headers({ "content-type": contentType }), fastPaths);
      assert.equal(route?.entry, "subscribe-entry", contentType);
      assert.equal(route?.wire.protocol, protocol, contentType);
      assert.equal(route?.path, SUBSCRIBE);
    }
  });

  it("keeps the query string out of the path", () => {
    assert.equal(bareStreamRoute(headers({ ":path": `${SUBSCRIBE}?x=1` }), fastPaths)?.path, SUBSCRIBE);
  });

  it("leaves to the compatibility layer: an Origin (CORS), another method, a deadline, compression, GET, an unknown type", () => {
    for (const [why, h] of [
      ["origin", headers({ origin: "http://dashboard.example" })],
      ["unary method", headers({ ":path": "/virtufin.api.v1.State/GetState" })],
      ["grpc-timeout", headers({ "grpc-timeout": "5S" })],
      ["connect-timeout-ms", headers({ "content-type": "application/connect+proto", "connect-timeout-ms": "5000" })],
      ["grpc-encoding gzip", headers({ "grpc-encoding": "gzip" })],
      ["GET", headers({ ":method": "GET" })],
      ["text/plain", headers({ "content-type": "text/plain" })],
    ] as const) {
      assert.equal(bareStreamRoute(h, fastPaths), undefined, why);
    }
  });
});
