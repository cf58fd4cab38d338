/**
 * The sidecar's gRPC unary client (src/dapr/sidecar/grpc-unary-client.ts) against a real
 * node:http2 server on loopback speaking gRPC as daprd does: answers, error statuses (in trailers
 * and trailers-only), a reset stream, a refused connection (cause kept for the retry rules), a
 * cancelled call, the trace context header, and a new session after the server restarts.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Dapr, GetStateRequestSchema, GetStateResponseSchema } from "@dapr/dapr/proto/dapr/proto/runtime/v1/dapr_pb.js";
import { GrpcUnaryClient } from "../../src/dapr/sidecar/grpc-unary-client.js";
import { classifyDaprError, provesNotSent } from "../../src/dapr/resilience.js";
import { envelope } from "../../src/server/framing.js";


/** A gRPC server whose GetState answers by key: "ok-*" with data, "missing" NOT_FOUND in trailers, "only" trailers-only, "reset", "hang". */
function startServer(port = 0): Promise<{ server: http2.Http2Server; port: number; seen: http2.IncomingHttpHeaders[] }> {
  const seen: http2.IncomingHttpHeaders[] = [];
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    seen.push(headers);
    stream.on("error", () => {}); // the reset case errors its own server stream
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const req = fromBinary(GetStateRequestSchema, Buffer.concat(chunks).subarray(5));
      switch (req.key) {
        case "missing":
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "5", "grpc-message": encodeURIComponent("no such key: ünïcode") }));
          stream.end();
          return;
        case "only":
          stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "10", "grpc-message": "possible etag mismatch" }, { endStream: true });
          return;
        case "reset":
          stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
          return;
        case "hang":
          return;
        default:
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(envelope(toBinary(GetStateResponseSchema, create(GetStateResponseSchema, { data: new TextEncoder().encode(`value of ${req.key}`), etag: "7" }))));
      }
    });
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port, seen })));
}

async function errorOf(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConnectError, `not a ConnectError: ${String(e)}`);
    return e;
  }
  assert.fail("the call succeeded");
}

describe("GrpcUnaryClient", () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  let client: GrpcUnaryClient;
  before(async () => {
    srv = await startServer();
    client = new GrpcUnaryClient(`http://127.0.0.1:${srv.port}`);
  });
  after(() => {
    client.close();
    srv.server.close();
  });
  const get = (key: string, signal = new AbortController().signal) => client.call(Dapr.method.getState, { storeName: "s", key }, signal);

  it("sends the request as one gRPC message and decodes the answer", async () => {
    const res = await get("ok-1");
    assert.equal(new TextDecoder().decode(res.data), "value of ok-1");
    assert.equal(res.etag, "7");
    const h = srv.seen.at(-1)!;
    assert.equal(h[":path"], "/dapr.proto.runtime.v1.Dapr/GetState");
    assert.equal(h["content-type"], "application/grpc+proto");
    assert.equal(h["te"], "trailers");
  });

  it("runs many calls concurrently on one session", async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `ok-${i}`);
    const answers = await Promise.all(keys.map((k) => get(k)));
    answers.forEach((a, i) => assert.equal(new TextDecoder().decode(a.data), `value of ok-${i}`));
  });

  it("turns a status in the trailers into a ConnectError with the decoded message", async () => {
    const err = await errorOf(get("missing"));
    assert.equal(err.code, Code.NotFound);
    assert.equal(err.rawMessage, "no such key: ünïcode");
  });

  it("reads the status of a trailers-only answer (ABORTED stays an ETag mismatch for the retry rules)", async () => {
    const err = await errorOf(get("only"));
    assert.equal(err.code, Code.Aborted);
    assert.equal(classifyDaprError(err), "permanent");
  });

  it("maps a REFUSED_STREAM reset to UNAVAILABLE, which proves the request was not processed", async () => {
    const err = await errorOf(get("reset"));
    assert.equal(err.code, Code.Unavailable);
    assert.equal(provesNotSent(err), true);
  });

  it("cancels the stream when the signal aborts and rejects with the signal's reason", async () => {
    const controller = new AbortController();
    const pending = get("hang", controller.signal);
    setTimeout(() => controller.abort(new ConnectError("gave up", Code.DeadlineExceeded)), 50);
    const err = await errorOf(pending);
    assert.equal(err.code, Code.DeadlineExceeded);
    const aborted = await errorOf(get("ok-1", controller.signal));
    assert.equal(aborted.code, Code.DeadlineExceeded);
  });

  it("fails with UNAVAILABLE and ECONNREFUSED as the cause while the server is down, and reconnects when it is back", async () => {
    const port = srv.port;
    await new Promise<void>((r) => {
      srv.server.close(() => r());
      client.close(); // the old session would keep the server's close waiting
    });
    const err = await errorOf(get("ok-1"));
    assert.equal(err.code, Code.Unavailable);
    assert.equal(classifyDaprError(err), "transient");
    assert.equal(provesNotSent(err), true, "a refused connection may be retried even for a conditional write");
    srv = await startServer(port);
    const res = await get("ok-2");
    assert.equal(new TextDecoder().decode(res.data), "value of ok-2");
  });
});
