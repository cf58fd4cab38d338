/**
 * Turns a publish into a StreamEvent and hands it to the backend's pub/sub. Used by
 * PublishEvent and by the state service for state change events.
 */
import { create } from "@bufbuild/protobuf";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import type { DaprAdapter } from "../dapr/adapter.js";
import { inPublishSpan } from "../observability/tracing.js";
import type { EventType } from "./filter.js";

export interface OutgoingEvent {
  readonly pubsub: string;
  readonly service: string;
  readonly topic: string;
  readonly eventType: EventType;
  readonly data: Uint8Array;
  /** Complete CloudEvents metadata: ce-id and ce-time must be set. */
  readonly metadata: Readonly<Record<string, string>>;
}

export class EventPublisher {
  constructor(private readonly adapter: DaprAdapter) {}

  async publish(out: OutgoingEvent, signal?: AbortSignal): Promise<StreamEvent> {
    const metadata = { ...out.metadata };
    return inPublishSpan(out.topic, metadata, () => this.send(out, metadata, signal));
  }

  private async send(out: OutgoingEvent, metadata: Record<string, string>, signal?: AbortSignal): Promise<StreamEvent> {
    const event = create(StreamEventSchema, {
      timestamp: out.metadata["ce-time"] ?? new Date().toISOString(),
      service: out.service,
      topic: out.topic,
      eventType: out.eventType,
      data: out.data,
      messageId: out.metadata["ce-id"] ?? "",
      metadata,
    });
    await this.adapter.publish(out.pubsub, out.topic, event, signal);
    return event;
  }
}
