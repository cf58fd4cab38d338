/**
 * Backend subscriptions, one per (pub/sub component, topic) however many local subscribers need
 * it: reference counted, opened on first use and closed when the last user leaves. Pinned topics
 * (the services' own topics and state-changes) stay open for the gateway's lifetime.
 *
 * Every event reaches local subscribers from here, through the backend, never by a local
 * shortcut, so that N replicas deliver each event to each subscriber exactly once.
 */
import { create } from "@bufbuild/protobuf";
import { randomUUID } from "node:crypto";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import type { BackendSubscription, DaprAdapter, SubscriptionStatus } from "../dapr/adapter.js";
import { GATEWAY_SERVICE, type ServiceRegistry } from "../services/registry.js";
import { inDeliverySpan } from "../observability/tracing.js";
import { serviceSource } from "./cloudevents.js";
import type { SubscriptionManager } from "./subscription-manager.js";

interface Entry {
  readonly pubsub: string;
  readonly topic: string;
  readonly pinned: boolean;
  refs: number;
  status: SubscriptionStatus | "connecting";
  subscription: BackendSubscription;
  /** Resolves when the backend subscription first reports connected. */
  readonly connected: Promise<void>;
  /** Whether `connected` has resolved (known without waiting a turn for it). */
  hasConnected: boolean;
  markConnected: () => void;
}

export interface TopicLease {
  /** Resolves once the backend subscription is connected, so no event published after it is missed. */
  readonly connected: Promise<void>;
  /** Whether `connected` has already resolved, so a caller need not wait for it. */
  readonly hasConnected: boolean;
  release(): void;
}

export interface TopicSubscriptionsOptions {
  readonly adapter: DaprAdapter;
  readonly registry: ServiceRegistry;
  readonly subscribers: SubscriptionManager;
  readonly onStatus?: (pubsub: string, topic: string, status: SubscriptionStatus, error?: string) => void;
  /** Sees every event from the backend before the fan-out (the scenario cache listens here). */
  readonly onEvent?: (event: StreamEvent) => void;
}

export class TopicSubscriptions {
  private readonly entries = new Map<string, Entry>();
  private receivedCount = 0;

  constructor(private readonly options: TopicSubscriptionsOptions) {}

  /** Events received from the backend so far, on every topic. */
  get received(): number {
    return this.receivedCount;
  }

  /** Opens the pinned subscriptions; call once the adapter has started. */
  openPinned(pinned: ReadonlyArray<{ readonly pubsub: string; readonly topic: string }>): void {
    for (const { pubsub, topic } of pinned) this.open(pubsub, topic, true);
  }

  /** Takes a reference on (pubsub, topic); the returned function releases it. */
  acquire(pubsub: string, topic: string): TopicLease {
    const entry = this.entries.get(id(pubsub, topic)) ?? this.open(pubsub, topic, false);
    entry.refs++;
    return new Lease(entry, this.entries);
  }

  /** Resolves once every pinned subscription has connected. */
  async pinnedConnected(): Promise<void> {
    await Promise.all([...this.entries.values()].filter((e) => e.pinned).map((e) => e.connected));
  }

  /** Whether every open backend subscription is connected (for readiness). */
  get allConnected(): boolean {
    for (const e of this.entries.values()) if (e.status !== "connected") return false;
    return true;
  }

  get size(): number {
    return this.entries.size;
  }

  snapshot(): Array<{ pubsub: string; topic: string; status: string; refs: number; pinned: boolean }> {
    return [...this.entries.values()].map(({ pubsub, topic, status, refs, pinned }) => ({ pubsub, topic, status, refs, pinned }));
  }

  async closeAll(): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(entries.map((e) => e.subscription.close()));
  }

  private open(pubsub: string, topic: string, pinned: boolean): Entry {
    const { adapter, subscribers } = this.options;
    let markConnected = () => {};
    const connected = new Promise<void>((resolve) => (markConnected = resolve));
    const entry: Entry = {
      pubsub,
      topic,
      pinned,
      refs: 0,
      status: "connecting",
      subscription: undefined as unknown as BackendSubscription,
      connected,
      hasConnected: false,
      markConnected,
    };
    this.entries.set(id(pubsub, topic), entry);
    entry.subscription = adapter.subscribe(pubsub, topic, {
      onEvent: (event) =>
        inDeliverySpan(event, () => {
          this.receivedCount++;
          this.options.onEvent?.(event);
          subscribers.broadcast(event, { pinnedTopic: entry.pinned });
        }),
      onStatus: (status, error) => {
        entry.status = status;
        if (status === "connected") {
          entry.hasConnected = true;
          entry.markConnected();
        }
        this.options.onStatus?.(pubsub, topic, status, error);
        this.reportLifecycle(entry, status, error);
      },
    });
    return entry;
  }

  /** A `system` event on the owning service's status topic, delivered on this replica only. */
  private reportLifecycle(entry: Entry, status: SubscriptionStatus, error?: string): void {
    const owner = this.options.registry.ownerOf(entry.topic);
    const time = new Date().toISOString();
    const messageId = randomUUID();
    const payload = { status, pubsubName: entry.pubsub, topic: entry.topic, ...(error === undefined ? {} : { error }) };
    const event = create(StreamEventSchema, {
      timestamp: time,
      service: owner.name,
      topic: owner.statusTopic,
      eventType: "system",
      data: new TextEncoder().encode(JSON.stringify(payload)),
      messageId,
      metadata: {
        "ce-id": messageId,
        "ce-source": serviceSource(GATEWAY_SERVICE),
        "ce-type": `com.virtufin.${GATEWAY_SERVICE}.subscription.${status}`,
        "ce-time": time,
        "ce-specversion": "1.0",
        "ce-datacontenttype": "application/json",
        "ce-subject": entry.topic,
      },
    });
    this.options.subscribers.broadcast(event, { pinnedTopic: true, lifecycleOf: entry.topic });
  }
}

function id(pubsub: string, topic: string): string {
  return `${pubsub}\x00${topic}`;
}

/** One reference on a backend subscription (an object, not a closure: every idle subscriber holds one). */
class Lease implements TopicLease {
  private released = false;

  constructor(
    private readonly entry: Entry,
    private readonly entries: Map<string, Entry>,
  ) {}

  get connected(): Promise<void> {
    return this.entry.connected;
  }

  get hasConnected(): boolean {
    return this.entry.hasConnected;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const entry = this.entry;
    entry.refs--;
    if (entry.refs === 0 && !entry.pinned) {
      this.entries.delete(id(entry.pubsub, entry.topic));
      void entry.subscription.close();
    }
  }
}
