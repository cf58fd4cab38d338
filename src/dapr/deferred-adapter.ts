/**
 * A backend whose module is loaded when the gateway starts, not when it is built: only the chosen
 * backend's code is ever loaded. The Dapr sidecar adapter pulls in every Dapr runtime descriptor
 * (about 5 MiB of idle RSS, measured) and the embedded one lmdb; a gateway on one backend has no
 * use for the other's.
 *
 * Every call before start() has loaded the backend is refused with NotReadyError (the app calls
 * start() before it serves anything).
 */
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { NotReadyError } from "../errors.js";
import type { BackendSubscription, DaprAdapter, StoredValue, TopicHandlers } from "./adapter.js";

export class DeferredAdapter implements DaprAdapter {
  private loaded: DaprAdapter | undefined;
  private loading: Promise<DaprAdapter> | undefined;
  private closed = false;

  constructor(
    readonly kind: DaprAdapter["kind"],
    private readonly load: () => Promise<DaprAdapter>,
  ) {}

  /** The backend itself, once start() has loaded it. */
  get backend(): DaprAdapter | undefined {
    return this.loaded;
  }

  async start(signal?: AbortSignal): Promise<void> {
    this.loading ??= this.load().then((adapter) => (this.loaded = adapter));
    const adapter = await this.loading;
    if (this.closed) {
      await adapter.close();
      throw new NotReadyError(`the ${this.kind} backend was closed while it started`);
    }
    await adapter.start(signal);
  }

  getState(store: string, service: string, key: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    return this.loaded?.getState(store, service, key, signal) ?? this.refused();
  }

  getBulkState(store: string, service: string, keys: readonly string[], signal?: AbortSignal): Promise<Map<string, StoredValue>> {
    return this.loaded?.getBulkState(store, service, keys, signal) ?? this.refused();
  }

  saveState(store: string, service: string, key: string, value: string, etag: string | undefined, signal?: AbortSignal): Promise<void> {
    return this.loaded?.saveState(store, service, key, value, etag, signal) ?? this.refused();
  }

  deleteState(store: string, service: string, key: string, etag: string | undefined, signal?: AbortSignal): Promise<void> {
    return this.loaded?.deleteState(store, service, key, etag, signal) ?? this.refused();
  }

  addToIndex(store: string, service: string, keys: readonly string[], signal?: AbortSignal): Promise<void> {
    return this.loaded?.addToIndex(store, service, keys, signal) ?? this.refused();
  }

  readIndex(store: string, service: string, signal?: AbortSignal): Promise<string[]> {
    return this.loaded?.readIndex(store, service, signal) ?? this.refused();
  }

  publish(pubsub: string, topic: string, event: StreamEvent, signal?: AbortSignal): Promise<void> {
    return this.loaded?.publish(pubsub, topic, event, signal) ?? this.refused();
  }

  subscribe(pubsub: string, topic: string, handlers: TopicHandlers): BackendSubscription {
    if (this.loaded === undefined) throw this.notStarted();
    return this.loaded.subscribe(pubsub, topic, handlers);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.loaded?.close();
  }

  private refused(): Promise<never> {
    return Promise.reject(this.notStarted());
  }

  private notStarted(): NotReadyError {
    return new NotReadyError(`the ${this.kind} backend has not started yet`);
  }
}
