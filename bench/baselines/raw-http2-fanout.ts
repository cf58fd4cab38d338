/**
 * Baseline "the floor": a raw node:http2 server that speaks just enough gRPC for W1/W2. Each
 * published event is serialised and framed once, and every subscriber's frames of one event-loop
 * turn are written with one write (coalesced). Runs as a child of bench/run.ts (IPC).
 */
import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { PublishEventRequestSchema, PublishEventResponseSchema, PubsubSubscribeRequestSchema } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { serveIpc } from "../lib/proc.js";
import { envelope } from "../lib/wire.js";
import { defaultTemplate, eventBytes, eventFor, templateFromBytes } from "./event.js";

const SUBSCRIBE = "/virtufin.api.v1.Pubsub/Subscribe";
const PUBLISH = "/virtufin.api.v1.Pubsub/PublishEvent";

let template: StreamEvent | undefined;
const topics = new Map<string, Set<http2.ServerHttp2Stream>>();
const pending = new Map<http2.ServerHttp2Stream, Buffer[]>();
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  for (const [stream, frames] of pending) {
    if (!stream.destroyed && !stream.closed) stream.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }
  pending.clear();
}

function readBody(stream: http2.ServerHttp2Stream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

const server = http2.createServer({ maxSessionMemory: 1000, settings: { maxConcurrentStreams: 100_000 } });
server.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  const path = headers[":path"];
  if (path === SUBSCRIBE) {
    void readBody(stream).then((body) => {
      const req = fromBinary(PubsubSubscribeRequestSchema, body.subarray(5));
      let set = topics.get(req.topic);
      if (set === undefined) topics.set(req.topic, (set = new Set()));
      set.add(stream);
      stream.once("close", () => {
        set.delete(stream);
        pending.delete(stream);
      });
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
    });
    return;
  }
  if (path === PUBLISH) {
    void readBody(stream).then((body) => {
      const req = fromBinary(PublishEventRequestSchema, body.subarray(5));
      const event = eventFor(template ?? (template = defaultTemplate(req.service, req.topic)), req);
      const frame = envelope(eventBytes(event)); // serialised once, for every subscriber
      for (const sub of topics.get(req.topic) ?? []) {
        const list = pending.get(sub);
        if (list === undefined) pending.set(sub, [frame]);
        else list.push(frame);
      }
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(envelope(toBinary(PublishEventResponseSchema, create(PublishEventResponseSchema, { messageId: event.messageId }))));
    });
    return;
  }
  stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
});

serveIpc({
  template: (args: { base64: string }) => {
    template = templateFromBytes(Buffer.from(args.base64, "base64"));
    return true;
  },
  subscribers: () => [...topics.values()].reduce((n, s) => n + s.size, 0),
});
server.listen(0, "127.0.0.1", () => {
  const addr = server.address();
  process.send?.({ type: "listening", port: typeof addr === "object" && addr !== null ? addr.port : 0 });
});
