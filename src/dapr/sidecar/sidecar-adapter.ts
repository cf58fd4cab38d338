/**
 * The Dapr backend: a Dapr sidecar reached over gRPC with the Dapr service descriptors that
 * `@dapr/dapr` ships: the state and publish calls and the streaming subscription over our own
 * small node:http2 client (grpc-unary-client.ts), the startup metadata check over a Connect
 * client. (The SDK's high-level state.get() parses values as JSON and drops the ETag, so it cannot
 * round-trip bytes.) Every unary call goes through the Resilience layer: one circuit breaker per
 * operation, retries only where they are safe.
 *
 * Layout: a value lives under the Dapr key `<service>:<key>` (Dapr refuses keys holding `||`;
 * service names hold no `:`, so the layout is injective) and each service's key index under
 * `<service>:_index` (user keys start with a letter or digit, so it cannot collide).
 * Events travel as a small JSON envelope inside Dapr's CloudEvent: the encoded StreamEvent in
 * base64 (Dapr 1.16 drops binary data of a non-JSON content type on a streaming subscription) and
 * the publish time in milliseconds (Dapr's own `time` has whole seconds). So every byte and every
 * `ce-*` attribute arrives as published; Dapr's envelope carries the same id, source and type.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { StateOptions_StateConcurrency } from "@dapr/dapr/proto/dapr/proto/common/v1/common_pb.js";
import { TopicEventResponse_TopicEventResponseStatus as AckStatus } from "@dapr/dapr/proto/dapr/proto/runtime/v1/appcallback_pb.js";
import { Dapr } from "@dapr/dapr/proto/dapr/proto/runtime/v1/dapr_pb.js";
import { StreamEventSchema, type StreamEvent } from "../../../gen/virtufin/api/v1/common_pb.js";
import { BackendUnavailableError, EtagInvalidError, EtagMismatchError } from "../../errors.js";
import type { Logger } from "../../observability/logger.js";
import { propagateToOutgoing } from "../../observability/tracing.js";
import { decodedFrom } from "../../server/framing.js";
import type { BackendSubscription, DaprAdapter, StoredValue, TopicHandlers } from "../adapter.js";
import { classifyDaprError, defaultSleep as sleep, Resilience } from "../resilience.js";
import { GrpcUnaryClient } from "./grpc-unary-client.js";
import { IndexBatcher, type IndexChange, type IndexStore } from "./index-batcher.js";
import { readSubscriptionMessage } from "./subscription-message.js";

export interface SidecarAdapterOptions {
  readonly host: string;
  readonly grpcPort: number;
  /** Prepended to every topic on the broker (namespaces a shared Redis or NATS). Default "". */
  readonly topicPrefix: string;
  /** How long start() waits for the sidecar before giving up. */
  readonly startupTimeoutMs: number;
  readonly resilience: Resilience;
  readonly logger: Logger;
}

const INDEX_SUFFIX = "_index";
const INDEX_CAS_ATTEMPTS = 64;
/** How far a replica's clock may be behind another's before the replay guard drops a new event. */
const CLOCK_SKEW_ALLOWANCE_MS = 1000;

interface BrokerEnvelope {
  /** The StreamEvent, protobuf binary in base64. */
  readonly event: string;
  /** When the publishing gateway sent it, in milliseconds since the epoch. */
  readonly publishedAt: number;
}
const RESUBSCRIBE_BASE_MS = 250;
const RESUBSCRIBE_MAX_MS = 10_000;
/** At most this many events wait for their ack; beyond it, reading the next waits for one. */
const MAX_EVENTS_IN_FLIGHT = 64;

export class SidecarDaprAdapter implements DaprAdapter {
  readonly kind = "dapr" as const;
  private readonly client: Client<typeof Dapr>;
  private readonly resilience: Resilience;
  /** The hot unary calls (state, publish) and the streaming subscription; the Connect client keeps the metadata check. */
  private readonly unary: GrpcUnaryClient;
  /** One group-committing writer per (store, service) key index. */
  private readonly indexBatchers = new Map<string, IndexBatcher>();

  constructor(private readonly options: SidecarAdapterOptions) {
    this.client = createClient(
      Dapr,
      createGrpcTransport({ baseUrl: `http://${options.host}:${options.grpcPort}`, interceptors: [propagateToOutgoing()] }),
    );
    this.resilience = options.resilience;
    this.unary = new GrpcUnaryClient(`http://${options.host}:${options.grpcPort}`);
  }

  /** Waits until the sidecar answers, logging progress, so readiness reflects it. */
  async start(signal?: AbortSignal): Promise<void> {
    const { logger, startupTimeoutMs, host, grpcPort } = this.options;
    const deadline = Date.now() + startupTimeoutMs;
    let lastLog = 0;
    for (;;) {
      try {
        const meta = await this.client.getMetadata({}, { timeoutMs: 2000, ...(signal ? { signal } : {}) });
        logger.info({ appId: meta.id, runtime: meta.runtimeVersion, components: meta.registeredComponents.map((c) => `${c.name} (${c.type})`) }, "dapr sidecar is up");
        return;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (Date.now() > deadline) {
          throw new BackendUnavailableError(`the Dapr sidecar at ${host}:${grpcPort} did not answer within ${startupTimeoutMs} ms`);
        }
        if (Date.now() - lastLog > 5000) {
          lastLog = Date.now();
          logger.info({ host, grpcPort, error: ConnectError.from(err).rawMessage }, "waiting for the Dapr sidecar");
        }
        await sleep(500, signal);
      }
    }
  }

  async getState(store: string, service: string, key: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    const res = await this.call("dapr.getState", (s) => this.unary.call(Dapr.method.getState, { storeName: store, key: daprKey(service, key) }, s), true, signal);
    return res.etag === "" ? undefined : { value: decodeText(res.data), etag: res.etag };
  }

  async getBulkState(store: string, service: string, keys: readonly string[], signal?: AbortSignal): Promise<Map<string, StoredValue>> {
    const out = new Map<string, StoredValue>();
    if (keys.length === 0) return out;
    const res = await this.call(
      "dapr.getBulkState",
      (s) => this.unary.call(Dapr.method.getBulkState, { storeName: store, keys: keys.map((k) => daprKey(service, k)), parallelism: 16 }, s),
      true,
      signal,
    );
    const prefix = `${service}:`;
    for (const item of res.items) {
      if (item.error !== "") throw new BackendUnavailableError(`the state store could not read "${item.key.slice(prefix.length)}"`);
      if (item.etag === "") continue;
      out.set(item.key.slice(prefix.length), { value: decodeText(item.data), etag: item.etag });
    }
    return out;
  }

  async saveState(store: string, service: string, key: string, value: string, etag: string | undefined, signal?: AbortSignal): Promise<void> {
    // Index first (a listed key without a value is skipped by GetAllState), value second, then
    // make sure the key is still listed: a concurrent delete may have dropped it in between.
    await this.indexAdd(store, service, [key], signal);
    // Dapr's Redis store accepts an ETag for a key that has no value; the contract says ABORTED.
    if (etag !== undefined && (await this.getState(store, service, key, signal)) === undefined) {
      throw new EtagMismatchError(`etag mismatch for key "${key}": the key has no value`);
    }
    await this.rawSave(store, daprKey(service, key), new TextEncoder().encode(value), etag, signal);
    await this.indexAdd(store, service, [key], signal);
  }

  async deleteState(store: string, service: string, key: string, etag: string | undefined, signal?: AbortSignal): Promise<void> {
    await this.call(
      "dapr.deleteState",
      (s) =>
        this.unary.call(
          Dapr.method.deleteState,
          {
            storeName: store,
            key: daprKey(service, key),
            ...(etag === undefined ? {} : { etag: { value: etag }, options: { concurrency: StateOptions_StateConcurrency.CONCURRENCY_FIRST_WRITE } }),
          },
          s,
        ),
      etag === undefined,
      signal,
    );
    await this.indexUpdate(store, service, (keys) => keys.delete(key), signal);
    // A save that raced with this delete may have had its key dropped from the index: re-list it.
    if ((await this.getState(store, service, key, signal)) !== undefined) await this.indexAdd(store, service, [key], signal);
  }

  addToIndex(store: string, service: string, keys: readonly string[], signal?: AbortSignal): Promise<void> {
    return this.indexAdd(store, service, keys, signal);
  }

  async readIndex(store: string, service: string, signal?: AbortSignal): Promise<string[]> {
    const { keys } = await this.readIndexRaw(store, service, signal);
    return [...keys];
  }

  async publish(pubsub: string, topic: string, event: StreamEvent, signal?: AbortSignal): Promise<void> {
    const envelope: BrokerEnvelope = { event: Buffer.from(toBinary(StreamEventSchema, event)).toString("base64"), publishedAt: Date.now() };
    const data = new TextEncoder().encode(JSON.stringify(envelope));
    const metadata: Record<string, string> = { "cloudevent.id": event.messageId };
    const source = event.metadata["ce-source"];
    const type = event.metadata["ce-type"];
    if (source !== undefined) metadata["cloudevent.source"] = source;
    if (type !== undefined) metadata["cloudevent.type"] = type;
    // A retried publish sends the same bytes with the same CloudEvent id, so brokers can de-duplicate.
    await this.call(
      "dapr.publishEvent",
      (s) => this.unary.call(Dapr.method.publishEvent, { pubsubName: pubsub, topic: this.options.topicPrefix + topic, data, dataContentType: "application/json", metadata }, s),
      true,
      signal,
    );
  }

  subscribe(pubsub: string, topic: string, handlers: TopicHandlers): BackendSubscription {
    const stop = new AbortController();
    const brokerTopic = this.options.topicPrefix + topic;
    const { logger } = this.options;
    // Redis creates a new consumer group at the start of the stream, so a new replica would be
    // handed old events: events published before this subscription first opened are dropped.
    const openedAt = Date.now();
    const run = async () => {
      for (let attempt = 0; !stop.signal.aborted; ) {
        let connected = false;
        const onConnected = () => {
          connected = true;
          attempt = 0;
          handlers.onStatus("connected");
        };
        try {
          await this.streamEvents(pubsub, brokerTopic, openedAt, handlers, onConnected, stop.signal);
          if (!stop.signal.aborted) throw new Error("the sidecar ended the subscription stream");
        } catch (err) {
          if (stop.signal.aborted) break;
          const reason = ConnectError.from(err).rawMessage;
          handlers.onStatus(connected ? "disconnected" : "failed", reason);
          const delay = Math.min(RESUBSCRIBE_MAX_MS, RESUBSCRIBE_BASE_MS * 2 ** attempt++) * (0.5 + Math.random() / 2);
          logger.warn({ pubsub, topic, attempt, delayMs: Math.round(delay), reason }, "dapr subscription lost; resubscribing");
          await sleep(delay, stop.signal).catch(() => {});
        }
      }
    };
    void run();
    return {
      close: async () => {
        stop.abort();
      },
    };
  }

  /** The state of each operation's circuit breaker (for health and metrics). */
  breakerStates(): Record<string, string> {
    return this.resilience.states();
  }

  async close(): Promise<void> {
    this.resilience.shutdown();
    this.unary.close();
  }

  /**
   * One streaming subscription, until it ends (resolves) or fails (rejects). Each event is handed
   * to the handlers as it is read, so they see stream order; its ack goes out as soon as its
   * delivery settles (at once for a synchronous handler), without holding up the next read. With
   * MAX_EVENTS_IN_FLIGHT unacknowledged, reading pauses until one settles.
   */
  private streamEvents(pubsub: string, topic: string, openedAt: number, handlers: TopicHandlers, onConnected: () => void, stop: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let inFlight = 0;
      let paused = false;
      const onStop = () => call.cancel();
      const call = this.unary.bidi(
        Dapr.method.subscribeTopicEventsAlpha1,
        {
          onMessage: (message) => {
            if (message.case === "initialResponse") return onConnected();
            if (message.case !== "eventMessage") return;
            const { id } = message;
            const ack = (status: AckStatus) => {
              inFlight--;
              call.send({ subscribeTopicEventsRequestType: { case: "eventProcessed", value: { id, status: { status } } } });
              if (paused && inFlight < MAX_EVENTS_IN_FLIGHT) {
                paused = false;
                call.resume();
              }
            };
            inFlight++;
            const status = this.deliver(message.data, openedAt, handlers);
            if (typeof status === "number") return ack(status);
            void status.then(ack);
            if (!paused && inFlight >= MAX_EVENTS_IN_FLIGHT) {
              paused = true;
              call.pause();
            }
          },
          onEnd: (error) => {
            stop.removeEventListener("abort", onStop);
            if (error === undefined) resolve();
            else reject(error);
          },
        },
        // Only the case, the event's id and its data are read (subscription-message.ts).
        readSubscriptionMessage,
      );
      call.send({ subscribeTopicEventsRequestType: { case: "initialRequest", value: { pubsubName: pubsub, topic, metadata: {} } } });
      if (stop.aborted) call.cancel();
      else stop.addEventListener("abort", onStop, { once: true });
    });
  }

  /**
   * Hands one broker message to the gateway; the answer is the ack sent back to Dapr, at once when
   * the handler is synchronous (no promise per event), else when its promise settles.
   */
  private deliver(data: Uint8Array, openedAt: number, handlers: TopicHandlers): AckStatus | Promise<AckStatus> {
    let event: StreamEvent;
    let publishedAt: number;
    try {
      const envelope = JSON.parse(decodeText(data)) as BrokerEnvelope;
      const body = Buffer.from(envelope.event, "base64");
      // Subscribers that read binary protobuf get these bytes as they are (framing.ts).
      event = decodedFrom(fromBinary(StreamEventSchema, body), body);
      publishedAt = envelope.publishedAt;
    } catch {
      // A poison message: retrying it would loop forever.
      this.options.logger.warn("dropped an undecodable event from the broker");
      return AckStatus.DROP;
    }
    if (publishedAt < openedAt - CLOCK_SKEW_ALLOWANCE_MS) return AckStatus.SUCCESS;
    let handled: void | Promise<void>;
    try {
      handled = handlers.onEvent(event);
    } catch {
      return AckStatus.RETRY;
    }
    if (handled === undefined) return AckStatus.SUCCESS;
    return Promise.resolve(handled).then(
      () => AckStatus.SUCCESS,
      () => AckStatus.RETRY,
    );
  }

  private async rawSave(store: string, key: string, value: Uint8Array, etag: string | undefined, signal?: AbortSignal): Promise<void> {
    await this.call(
      "dapr.saveState",
      (s) =>
        this.unary.call(
          Dapr.method.saveState,
          {
            storeName: store,
            states: [
              {
                key,
                value,
                ...(etag === undefined
                  ? { options: { concurrency: StateOptions_StateConcurrency.CONCURRENCY_LAST_WRITE } }
                  : { etag: { value: etag }, options: { concurrency: StateOptions_StateConcurrency.CONCURRENCY_FIRST_WRITE } }),
              },
            ],
          },
          s,
        ),
      // A conditional write whose outcome is unknown must not be retried blindly.
      etag === undefined,
      signal,
    );
  }

  private async readIndexRaw(store: string, service: string, signal?: AbortSignal): Promise<{ keys: Set<string>; etag: string }> {
    const res = await this.call("dapr.getState", (s) => this.unary.call(Dapr.method.getState, { storeName: store, key: indexKey(service) }, s), true, signal);
    if (res.etag === "") return { keys: new Set(), etag: "" };
    const parsed = JSON.parse(decodeText(res.data)) as { keys?: unknown };
    const keys = Array.isArray(parsed.keys) ? parsed.keys.filter((k): k is string => typeof k === "string") : [];
    return { keys: new Set(keys), etag: res.etag };
  }

  private indexAdd(store: string, service: string, keys: readonly string[], signal?: AbortSignal): Promise<void> {
    return this.indexUpdate(
      store,
      service,
      (set) => {
        const before = set.size;
        for (const k of keys) set.add(k);
        return set.size !== before;
      },
      signal,
    );
  }

  /**
   * Compare-and-swap on the index, batched per index (index-batcher.ts): read it with its ETag,
   * apply every queued change, write it back only if the ETag still holds; on a conflict read
   * again. Concurrent writers and replicas never lose a key.
   */
  private indexUpdate(store: string, service: string, change: IndexChange, signal?: AbortSignal): Promise<void> {
    const id = `${store}\u0000${service}`;
    let batcher = this.indexBatchers.get(id);
    if (batcher === undefined) {
      const indexStore: IndexStore = {
        read: () => this.readIndexRaw(store, service),
        write: (keys, etag) => this.rawSave(store, indexKey(service), new TextEncoder().encode(JSON.stringify({ keys })), etag),
      };
      batcher = new IndexBatcher(indexStore, {
        attempts: INDEX_CAS_ATTEMPTS,
        backoff: (attempt) => sleep(Math.random() * Math.min(200, 5 * 2 ** attempt)),
        exhausted: () => new BackendUnavailableError(`the key index of "${service}" is under too much contention; retry`),
      });
      this.indexBatchers.set(id, batcher);
    }
    return batcher.update(change, signal);
  }

  /** One Dapr call through its breaker, with Dapr's errors turned into the gateway's. */
  private async call<T>(operation: string, fn: (signal: AbortSignal) => Promise<T>, retry: boolean, signal?: AbortSignal): Promise<T> {
    try {
      return await this.resilience.call(operation, fn, { retry, ...(signal ? { signal } : {}) });
    } catch (err) {
      throw translate(err);
    }
  }
}

function daprKey(service: string, key: string): string {
  return `${service}:${key}`;
}

function indexKey(service: string): string {
  return `${service}:${INDEX_SUFFIX}`;
}

function decodeText(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** Dapr's ETag errors become ours; everything else keeps its code but loses Dapr's internals. */
function translate(err: unknown): unknown {
  if (!(err instanceof ConnectError)) return err;
  switch (err.code) {
    case Code.Aborted:
      // connect-node also reports a reset connection as ABORTED: only Dapr's own is an ETag mismatch.
      if (classifyDaprError(err) === "transient") return new BackendUnavailableError("the connection to the Dapr sidecar was reset");
      return new EtagMismatchError("etag mismatch: the stored etag is different (or the key has no value)");
    case Code.InvalidArgument:
      return /etag/i.test(err.rawMessage) ? new EtagInvalidError("etag is malformed for this state store") : new ConnectError("the state store refused the request", Code.InvalidArgument);
    case Code.Unavailable:
    case Code.DeadlineExceeded:
    case Code.Canceled:
      return err;
    default:
      return new BackendUnavailableError(`the Dapr sidecar failed (${Code[err.code]})`);
  }
}
