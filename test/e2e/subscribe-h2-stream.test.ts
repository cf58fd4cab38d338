/**
 * Subscribe on a bare HTTP/2 stream (rpc-adapter.ts Http2StreamCall: no Origin header, so no
 * CORS, and Node's compatibility layer never wraps the stream) against the same request through
 * the compatibility layer (an Origin header sends it there): a raw HTTP/2 client sees the same
 * status, headers, DATA bytes and trailers for every streaming protocol, and for the bodies the
 * fast path hands on to Connect after reading them (two messages, a cut-off message, an
 * oversized one) and for an error the handler raises. Which path a stream takes is checked in
 * test/unit/h2-stream-route.test.ts.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PubsubSubscribeRequestSchema } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { runId, startGateway, type RunningGateway } from "../support/gateway.js";
import { grpcFrame } from "../support/raw-http2.js";

const PATH = "/virtufin.api.v1.Pubsub/Subscribe";
const MAX_MESSAGE_BYTES = 4096;

interface Seen {
  status: number | undefined;
  headers: Record<string, unknown>;
  data: string;
  trailers: Record<string, unknown>;
  rstCode: number;
}

/** Headers that legitimately differ between the two requests: the clock, and CORS for the one with an Origin. */
function comparable(h: http2.IncomingHttpHeaders): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === "date" || k === ":status" || k.startsWith("access-control-") || k === "vary") continue;
    out[k] = v;
  }
  return out;
}

interface RawCall {
  readonly headers: Promise<void>;
  readonly done: Promise<Seen>;
}

function call(session: http2.ClientHttp2Session, contentType: string, body: Buffer, origin: boolean): RawCall {
  const stream = session.request({
    ":method": "POST",
    ":path": PATH,
    "content-type": contentType,
    te: "trailers",
    ...(origin ? { origin: "http://parity.example" } : {}),
  });
  const seen: Seen = { status: undefined, headers: {}, data: "", trailers: {}, rstCode: 0 };
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("trailers", (t) => (seen.trailers = comparable(t)));
  stream.on("error", () => {});
  const headers = new Promise<void>((resolve) =>
    stream.once("response", (h) => {
      seen.status = Number(h[":status"]);
      seen.headers = comparable(h);
      resolve();
    }),
  );
  const done = new Promise<Seen>((resolve) =>
    stream.once("close", () => {
      seen.data = Buffer.concat(chunks).toString("hex");
      seen.rstCode = stream.rstCode ?? 0;
      resolve(seen);
    }),
  );
  stream.end(body);
  return { headers, done };
}

describe("Subscribe on a bare HTTP/2 stream answers as through Node's compatibility layer", () => {
  let gw: RunningGateway;
  let session: http2.ClientHttp2Session;
  before(async () => {
    gw = await startGateway({ maxMessageBytes: MAX_MESSAGE_BYTES });
    session = http2.connect(gw.baseUrl);
  });
  after(async () => {
    session.destroy();
    await gw.stop();
  });

  for (const contentType of ["application/grpc", "application/grpc-web+proto", "application/connect+proto"]) {
    it(`streams the same bytes and ends the same way over ${contentType}`, async () => {
      const topic = `workmanager.${runId()}`;
      const body = grpcFrame(PubsubSubscribeRequestSchema, { service: "workmanager", topic });
      const bare = call(session, contentType, body, false);
      const compat = call(session, contentType, body, true);
      await Promise.all([bare.headers, compat.headers]);
      const pubsub = createClient(Pubsub, createGrpcTransport({ baseUrl: gw.baseUrl }));
      await pubsub.publishEvent({ service: "workmanager", topic, data: new Uint8Array([7, 8, 9]) });
      await new Promise((r) => setTimeout(r, 200));
      gw.app.deps.subscribers.closeAll(new ConnectError("parity says stop", Code.Unavailable));
      const [a, b] = await Promise.all([bare.done, compat.done]);
      assert.equal(a.status, 200);
      assert.ok(a.data.length > 0, "the event arrived");
      assert.deepEqual(a, b);
    });
  }

  const envelope = grpcFrame(PubsubSubscribeRequestSchema, { service: "workmanager", topic: "workmanager.parity" });
  const bodies: Array<[string, Buffer]> = [
    ["two messages", Buffer.concat([envelope, envelope])],
    ["a cut-off message", envelope.subarray(0, envelope.length - 2)],
    ["an empty body", Buffer.alloc(0)],
    ["an oversized message", grpcFrame(PubsubSubscribeRequestSchema, { service: "workmanager", topic: "x".repeat(MAX_MESSAGE_BYTES + 100) })],
    ["an unknown service (the handler's error)", grpcFrame(PubsubSubscribeRequestSchema, { service: "nosuchservice", topic: "t" })],
  ];
  for (const contentType of ["application/grpc", "application/grpc-web+proto", "application/connect+proto"]) {
    for (const [name, body] of bodies) {
      it(`answers ${name} the same way over ${contentType}`, async () => {
        const [a, b] = await Promise.all([call(session, contentType, body, false).done, call(session, contentType, body, true).done]);
        assert.ok(a.status !== undefined, "an answer came");
        const ended = contentType === "application/grpc" ? Object.keys(a.trailers).length > 0 : a.data.length > 0;
        assert.ok(ended, `the call ended with a status: ${JSON.stringify(a)}`);
        assert.deepEqual(a, b);
      });
    }
  }
});
