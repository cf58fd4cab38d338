/**
 * Live subscribers: registration, scope index, fan-out into bounded per-subscriber queues.
 *
 * Fan-out never waits on a subscriber. Each subscriber has a queue of at most `bufferSize`
 * events; one that overflows is cut at once (its queue is dropped so memory is freed, it leaves
 * the registry and `onSlowConsumer` fires) and its stream ends with RESOURCE_EXHAUSTED as soon as
 * its reader resumes. Removal hangs off the request's abort signal, because a generator blocked
 * on a slow reader is never resumed and its `finally` never runs; a feed the transport pipes
 * itself is closed when its pipe ends instead, and needs no signal.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import type { MessageFeed } from "../server/stream-control.js";
import { eventScopes, filterScopes, matchesFilter, type SubscriptionFilter } from "./filter.js";

export interface SubscriberOptions {
  readonly filter: SubscriptionFilter;
  /** Topics whose backend-subscription lifecycle events this subscriber also receives. */
  readonly lifecycleOf?: string | undefined;
  /**
   * Ends the subscription when aborted (the request's signal). Without one, whoever opened the
   * feed closes it (the transport's pipe ends when the stream does), or binds a signal later with
   * SubscriberFeed.endWith: an AbortSignal and its listener cost an idle stream about 700 bytes.
   */
  readonly signal?: AbortSignal | undefined;
  /** Called once when the subscriber is cut as a slow consumer (to reset its stream later). */
  readonly onCut?: (() => void) | undefined;
  /** Access control: events this subscriber may not see are never queued for it. */
  readonly maySee?: ((event: StreamEvent) => boolean) | undefined;
}

export interface DeliveryOptions {
  /** Events of pinned topics reach every matching subscriber; others only those naming the topic. */
  readonly pinnedTopic: boolean;
  /** For lifecycle events: the topic whose backend subscription changed. */
  readonly lifecycleOf?: string | undefined;
}

export interface SubscriptionStats {
  readonly active: number;
  readonly delivered: number;
  readonly slowConsumersCut: number;
  /** Events thrown away: the queue of a subscriber cut for being slow, and the event that overflowed it. */
  readonly dropped: number;
  readonly maxQueueDepth: number;
}

export interface SubscriptionManagerOptions {
  /** Events queued per subscriber before it is cut. */
  readonly bufferSize: number;
  /** Most concurrent subscribers (default: unlimited). */
  readonly maxSubscribers?: number;
  readonly onSlowConsumer?: () => void;
}

/**
 * One registered subscriber; also the MessageFeed the transport's fast path drains, and the
 * listener of its signal's abort (an object with handleEvent, so no closure per subscriber).
 */
class Subscriber implements SubscriberFeed {
  queue: StreamEvent[] = [];
  head = 0;
  cut = false;
  closed = false;
  /** Set when the gateway ends the stream (shutdown); thrown once the queue is drained. */
  endError: ConnectError | undefined;
  wake: (() => void) | undefined;
  /** The signal whose abort ends the subscription, if any. */
  signal: AbortSignal | undefined;

  constructor(
    readonly id: number,
    readonly options: SubscriberOptions,
    readonly scopes: readonly string[],
    private readonly owner: SubscriptionManager,
  ) {}

  /** The signal aborted: leave the registry. */
  handleEvent(): void {
    this.owner.remove(this);
  }

  endWith(signal: AbortSignal): void {
    if (this.signal !== undefined) throw new Error("the subscriber already ends with a signal");
    if (signal.aborted) return this.owner.remove(this);
    this.signal = signal;
    signal.addEventListener("abort", this, { once: true });
  }

  close(): void {
    this.signal?.removeEventListener("abort", this);
    this.owner.remove(this);
  }

  get depth(): number {
    return this.queue.length - this.head;
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  takeAll(): StreamEvent[] {
    if (this.depth === 0) return [];
    const taken = this.head === 0 ? this.queue : this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    return taken;
  }

  onWake(wake: () => void): void {
    this.wake = wake;
  }

  ending(): { error?: ConnectError } | undefined {
    if (this.cut) {
      return {
        error: new ConnectError(
          `slow consumer: more than ${this.owner.bufferSize} events were waiting for this subscriber`,
          Code.ResourceExhausted,
        ),
      };
    }
    if (this.endError !== undefined) return { error: this.endError };
    if (this.closed) return {};
    return undefined;
  }
}

/** A subscriber's queue as its stream sees it; `close` leaves the registry (idempotent). */
export interface SubscriberFeed extends MessageFeed<StreamEvent> {
  close(): void;
  /** Ends the subscription when `signal` aborts (at once if it has); for a feed opened without one. */
  endWith(signal: AbortSignal): void;
}

export class SubscriptionManager {
  private readonly byScope = new Map<string, Set<Subscriber>>();
  private nextId = 1;
  private count = 0;
  private delivered = 0;
  private slowConsumersCut = 0;
  private dropped = 0;
  private maxQueueDepth = 0;

  constructor(private readonly options: SubscriptionManagerOptions) {}

  /** Events queued per subscriber before it is cut. */
  get bufferSize(): number {
    return this.options.bufferSize;
  }

  get stats(): SubscriptionStats {
    return {
      active: this.count,
      delivered: this.delivered,
      slowConsumersCut: this.slowConsumersCut,
      dropped: this.dropped,
      maxQueueDepth: this.maxQueueDepth,
    };
  }

  /**
   * Registers a subscriber and returns its event stream. Registration happens before this
   * returns, so an event broadcast afterwards is never missed.
   */
  subscribe(options: SubscriberOptions): AsyncIterable<StreamEvent> {
    return this.iterate(this.open(options));
  }

  /** The events of an opened feed as an async iterable, one at a time; closes the feed when done. */
  iterate(feed: SubscriberFeed): AsyncIterable<StreamEvent> {
    return this.drain(feed);
  }

  /**
   * Registers a subscriber and returns its queue, for a transport that drains it itself (see
   * StreamControl.pipe). Registration happens before this returns; the caller must `close` it.
   */
  open(options: SubscriberOptions): SubscriberFeed {
    if (options.signal?.aborted === true) throw new ConnectError("the call was cancelled", Code.Canceled);
    const max = this.options.maxSubscribers;
    if (max !== undefined && this.count >= max) {
      throw new ConnectError(`the gateway holds its limit of ${max} subscribers`, Code.ResourceExhausted);
    }
    const sub = new Subscriber(this.nextId++, options, [...new Set(filterScopes(options.filter))], this);
    if (options.lifecycleOf !== undefined) {
      (sub.scopes as string[]).push(`lifecycle/${options.lifecycleOf}`);
    }
    for (const scope of sub.scopes) {
      let set = this.byScope.get(scope);
      if (set === undefined) this.byScope.set(scope, (set = new Set()));
      set.add(sub);
    }
    this.count++;
    if (options.signal !== undefined) sub.endWith(options.signal);
    return sub;
  }

  /** Hands an event to every matching subscriber's queue; never blocks. */
  broadcast(event: StreamEvent, delivery: DeliveryOptions): number {
    const coordinates = { service: event.service, topic: event.topic, eventType: event.eventType };
    const scopes = eventScopes(coordinates);
    if (delivery.lifecycleOf !== undefined) scopes.push(`lifecycle/${delivery.lifecycleOf}`);
    const seen = new Set<Subscriber>();
    let reached = 0;
    for (const scope of scopes) {
      const set = this.byScope.get(scope);
      if (set === undefined) continue;
      for (const sub of set) {
        if (seen.has(sub)) continue;
        seen.add(sub);
        const { filter, lifecycleOf } = sub.options;
        const lifecycle = delivery.lifecycleOf !== undefined && lifecycleOf === delivery.lifecycleOf;
        const visible = delivery.pinnedTopic || filter.topics.has(event.topic);
        const wanted = lifecycle || (visible && matchesFilter(filter, coordinates));
        if (wanted && (sub.options.maySee?.(event) ?? true) && this.enqueue(sub, event)) reached++;
      }
    }
    return reached;
  }

  /** Queues the event; false when the subscriber is gone or was cut by this event. */
  private enqueue(sub: Subscriber, event: StreamEvent): boolean {
    if (sub.closed) return false;
    if (sub.depth >= this.options.bufferSize) {
      this.cut(sub);
      return false;
    }
    sub.queue.push(event);
    this.delivered++;
    if (sub.depth > this.maxQueueDepth) this.maxQueueDepth = sub.depth;
    sub.notify();
    return true;
  }

  private cut(sub: Subscriber): void {
    // Its queue, plus the event that did not fit.
    this.dropped += sub.depth + 1;
    sub.cut = true;
    sub.queue = [];
    sub.head = 0;
    this.slowConsumersCut++;
    this.remove(sub);
    this.options.onSlowConsumer?.();
    sub.options.onCut?.();
  }

  /** Takes a subscriber out of the registry and wakes its reader (idempotent). */
  remove(sub: Subscriber): void {
    if (sub.closed) return;
    sub.closed = true;
    for (const scope of sub.scopes) {
      const set = this.byScope.get(scope);
      if (set === undefined) continue;
      set.delete(sub);
      if (set.size === 0) this.byScope.delete(scope);
    }
    this.count--;
    sub.notify();
  }

  private async *drain(feed: SubscriberFeed): AsyncGenerator<StreamEvent> {
    const sub = feed as unknown as Subscriber;
    try {
      for (;;) {
        if (sub.depth > 0) {
          const event = sub.queue[sub.head] as StreamEvent;
          sub.queue[sub.head] = undefined as unknown as StreamEvent;
          sub.head++;
          if (sub.head > 1024 && sub.head * 2 > sub.queue.length) {
            sub.queue.splice(0, sub.head);
            sub.head = 0;
          }
          yield event;
          continue;
        }
        const ending = sub.ending();
        if (ending?.error !== undefined) throw ending.error;
        if (ending !== undefined) return;
        await new Promise<void>((resolve) => (sub.wake = resolve));
      }
    } finally {
      feed.close();
    }
  }

  /**
   * Ends every subscriber's stream (shutdown): each ends with `reason` once its queue is drained,
   * so clients reconnect elsewhere.
   */
  closeAll(reason: ConnectError): void {
    for (const set of [...this.byScope.values()]) {
      for (const sub of set) {
        sub.endError = reason;
        this.remove(sub);
      }
    }
  }
}
