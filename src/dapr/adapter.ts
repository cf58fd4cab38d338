/**
 * The DaprAdapter port: everything the gateway needs from its backend. Two implementations
 * satisfy it and pass the same contract suite: the embedded one (a persistent embedded store and an
 * in-process broker) and the sidecar one (a real Dapr sidecar).
 *
 * State is addressed by (store component, service, key); the adapter lays it out (as
 * `<service>||<key>`, Dapr's own convention) and keeps the per-service key index. ETags are opaque.
 * Errors: EtagMismatchError (ABORTED), EtagInvalidError (INVALID_ARGUMENT),
 * BackendUnavailableError (UNAVAILABLE); anything else is internal.
 */
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";

export interface StoredValue {
  readonly value: string;
  readonly etag: string;
}

export type SubscriptionStatus = "connected" | "disconnected" | "failed";

export interface TopicHandlers {
  /** Called for each event, in order; the event is acknowledged when the returned promise settles. */
  onEvent(event: StreamEvent): void | Promise<void>;
  /** Called when the backend subscription connects, breaks or gives up. */
  onStatus(status: SubscriptionStatus, error?: string): void;
}

export interface BackendSubscription {
  close(): Promise<void>;
}

export interface DaprAdapter {
  readonly kind: "embedded" | "dapr";
  /** Opens the store / waits for the sidecar; the gateway is ready only after this resolves. */
  start(signal?: AbortSignal): Promise<void>;
  getState(store: string, service: string, key: string, signal?: AbortSignal): Promise<StoredValue | undefined>;
  /** Values of the keys that have one; keys without a value are absent from the map. */
  getBulkState(store: string, service: string, keys: readonly string[], signal?: AbortSignal): Promise<Map<string, StoredValue>>;
  /**
   * Saves a value (with an etag: only if it matches) and adds the key to the service's key index.
   * The index may list a key that has no value (GetAllState skips it) but never misses one that has.
   */
  saveState(store: string, service: string, key: string, value: string, etag: string | undefined, signal?: AbortSignal): Promise<void>;
  /** Deletes a value (with an etag: only if it matches) and drops the key from the index. */
  deleteState(store: string, service: string, key: string, etag: string | undefined, signal?: AbortSignal): Promise<void>;
  /** Adds keys to the service's key index (RegisterKeys). */
  addToIndex(store: string, service: string, keys: readonly string[], signal?: AbortSignal): Promise<void>;
  /** The service's indexed keys (Dapr cannot list keys, so the gateway keeps this index). */
  readIndex(store: string, service: string, signal?: AbortSignal): Promise<string[]>;
  /** Publishes an event; resolves once the broker has accepted it. */
  publish(pubsub: string, topic: string, event: StreamEvent, signal?: AbortSignal): Promise<void>;
  /** Opens a backend subscription to one topic; each replica receives every event. */
  subscribe(pubsub: string, topic: string, handlers: TopicHandlers): BackendSubscription;
  close(): Promise<void>;
}
