/**
 * The event a baseline server fans out for one PublishEvent: a StreamEvent shaped like the
 * gateway's (same fields and metadata keys, taken from an event the gateway delivered in the same
 * run when there is one), so every server sends frames of the same size.
 */
import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import type { PublishEventRequest } from "../../gen/virtufin/api/v1/pubsub_pb.js";

/** What the gateway attaches when the publisher sets nothing (README: missing attributes are filled). */
export function defaultTemplate(service: string, topic: string): StreamEvent {
  return create(StreamEventSchema, {
    timestamp: new Date().toISOString(),
    service,
    topic,
    eventType: "pubsub",
    messageId: randomUUID(),
    metadata: {
      "ce-id": randomUUID(),
      "ce-time": new Date().toISOString(),
      "ce-specversion": "1.0",
      "ce-source": `urn:com.virtufin.${service}`,
      "ce-type": `com.virtufin.${service}.${topic}`,
      "ce-datacontenttype": "application/json",
    },
  });
}

export function templateFromBytes(bytes: Uint8Array): StreamEvent {
  return fromBinary(StreamEventSchema, bytes);
}

/** A fresh event for one publish: new id and time, the request's payload, the template's shape. */
export function eventFor(template: StreamEvent, req: PublishEventRequest): StreamEvent {
  const id = randomUUID();
  const now = new Date().toISOString();
  const metadata: Record<string, string> = { ...template.metadata };
  if ("ce-id" in metadata) metadata["ce-id"] = id;
  if ("ce-time" in metadata) metadata["ce-time"] = now;
  return create(StreamEventSchema, {
    timestamp: template.timestamp === "" ? "" : now,
    service: req.service,
    topic: req.topic,
    eventType: template.eventType,
    data: req.data,
    messageId: id,
    metadata,
  });
}

export function eventBytes(event: StreamEvent): Uint8Array {
  return toBinary(StreamEventSchema, event);
}
