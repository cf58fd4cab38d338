/**
 * Baseline "the peer": a @grpc/grpc-js server doing the gateway's Subscribe/PublishEvent job with a
 * generic service definition whose (de)serialisers are protobuf-es toBinary/fromBinary of the real
 * messages from gen/. One event object goes to every subscriber and the serialiser remembers the
 * last event's bytes, so each event is serialised once, as a careful grpc-js server would do.
 * Runs as a child of bench/run.ts (IPC).
 */
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  PublishEventRequestSchema,
  PublishEventResponseSchema,
  PubsubSubscribeRequestSchema,
  type PublishEventRequest,
  type PublishEventResponse,
  type PubsubSubscribeRequest,
} from "../../gen/virtufin/api/v1/pubsub_pb.js";
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { serveIpc } from "../lib/proc.js";
import { defaultTemplate, eventBytes, eventFor, templateFromBytes } from "./event.js";

let lastEvent: StreamEvent | undefined;
let lastBytes: Buffer = Buffer.alloc(0);
function serializeEvent(event: StreamEvent): Buffer {
  if (event !== lastEvent) {
    lastEvent = event;
    lastBytes = Buffer.from(eventBytes(event));
  }
  return lastBytes;
}

const definition: grpc.ServiceDefinition = {
  PublishEvent: {
    path: "/virtufin.api.v1.Pubsub/PublishEvent",
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: PublishEventRequest) => Buffer.from(toBinary(PublishEventRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(PublishEventRequestSchema, b),
    responseSerialize: (m: PublishEventResponse) => Buffer.from(toBinary(PublishEventResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(PublishEventResponseSchema, b),
  },
  Subscribe: {
    path: "/virtufin.api.v1.Pubsub/Subscribe",
    requestStream: false,
    responseStream: true,
    requestSerialize: (m: PubsubSubscribeRequest) => Buffer.from(toBinary(PubsubSubscribeRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(PubsubSubscribeRequestSchema, b),
    responseSerialize: serializeEvent,
    responseDeserialize: (b: Buffer) => templateFromBytes(b),
  },
};

let template: StreamEvent | undefined;
const topics = new Map<string, Set<grpc.ServerWritableStream<PubsubSubscribeRequest, StreamEvent>>>();

const server = new grpc.Server({ "grpc.max_concurrent_streams": 100_000 });
server.addService(definition, {
  PublishEvent: (call: grpc.ServerUnaryCall<PublishEventRequest, PublishEventResponse>, callback: grpc.sendUnaryData<PublishEventResponse>) => {
    const req = call.request;
    const event = eventFor(template ?? (template = defaultTemplate(req.service, req.topic)), req);
    for (const sub of topics.get(req.topic) ?? []) sub.write(event);
    callback(null, create(PublishEventResponseSchema, { messageId: event.messageId }));
  },
  Subscribe: (call: grpc.ServerWritableStream<PubsubSubscribeRequest, StreamEvent>) => {
    let set = topics.get(call.request.topic);
    if (set === undefined) topics.set(call.request.topic, (set = new Set()));
    set.add(call);
    call.sendMetadata(new grpc.Metadata());
    const remove = () => set.delete(call);
    call.once("cancelled", remove);
    call.once("close", remove);
    call.on("error", remove);
  },
});

serveIpc({
  template: (args: { base64: string }) => {
    template = templateFromBytes(Buffer.from(args.base64, "base64"));
    return true;
  },
  subscribers: () => [...topics.values()].reduce((n, s) => n + s.size, 0),
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err !== null) throw err;
  process.send?.({ type: "listening", port });
});
