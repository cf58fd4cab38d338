/**
 * The shared body of Gateway.Subscribe and Pubsub.Subscribe: take the backend topics the filter
 * needs, register the subscriber, send the response headers (the client now knows it is
 * subscribed), then stream. Cleanup runs when the transport's pipe ends; a stream that goes
 * through Connect (or has a deadline) also hangs it off the request's abort signal, because a
 * generator blocked on a slow reader never reaches its `finally`.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import type { SubscriptionFilter } from "../events/filter.js";
import { identityKey } from "../auth/access-control.js";
import { canSeeEvent, checkSubscribeFilter } from "../auth/permissions.js";
import { streamControlKey } from "../server/stream-control.js";
import type { SubscriberFeed } from "../events/subscription-manager.js";
import type { TopicLease } from "../events/topic-subscriptions.js";
import type { HandlerDeps } from "./deps.js";

/** How long a new subscription waits for its backend subscription before giving up. */
const BACKEND_CONNECT_TIMEOUT_MS = 10_000;

export function streamEvents(
  deps: HandlerDeps,
  ctx: HandlerContext,
  filter: SubscriptionFilter,
  backendTopics: ReadonlyArray<{ readonly pubsub: string; readonly topic: string }>,
  lifecycleOf?: string,
): AsyncIterableIterator<StreamEvent> {
  return new EventStream(deps, ctx, filter, backendTopics, lifecycleOf);
}

const DONE: IteratorResult<StreamEvent> = Object.freeze({ done: true, value: undefined });

/**
 * One subscription's stream, as an async generator would run it (nothing happens before the
 * first next(); return() cleans up) but written as a class: a stream the transport pipes spends
 * its whole life waiting for the pipe to end, and a generator parked in `await` keeps its frame,
 * its request queue and their promises per stream, where this keeps one object and one pending
 * promise.
 */
class EventStream implements AsyncIterableIterator<StreamEvent> {
  private started = false;
  private finished = false;
  private leases: Leases | undefined;
  private feed: SubscriberFeed | undefined;
  private resetTimer: NodeJS.Timeout | undefined;
  /** Whether the leases listen to the call's signal (streams that go through Connect). */
  private leasesEndWithSignal = false;
  /** The events, when they go through Connect (the transport cannot pipe). */
  private events: AsyncIterator<StreamEvent> | undefined;

  constructor(
    private readonly deps: HandlerDeps,
    private readonly ctx: HandlerContext,
    private readonly filter: SubscriptionFilter,
    private readonly backendTopics: ReadonlyArray<{ readonly pubsub: string; readonly topic: string }>,
    private readonly lifecycleOf: string | undefined,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<StreamEvent>> {
    if (this.finished) return Promise.resolve(DONE);
    const events = this.events;
    if (events !== undefined) return events.next().then((r) => (r.done === true ? this.complete() : r), this.fail);
    if (this.started) return Promise.reject(new Error("EventStream.next called while the stream is starting"));
    this.started = true;
    try {
      return this.start();
    } catch (err) {
      this.cleanUp();
      return Promise.reject(err);
    }
  }

  return(): Promise<IteratorResult<StreamEvent>> {
    this.cleanUp();
    return Promise.resolve(DONE);
  }

  /** Access control and backend topics (may throw); then open() at once, or when the topics are connected. */
  private start(): Promise<IteratorResult<StreamEvent>> {
    const { deps, ctx, filter } = this;
    // Access control first: a filter the caller may not use fails at once, not as an empty stream.
    const identity = deps.policy.identityOf(ctx.values.get(identityKey), "");
    const permissions = deps.policy.permissionsOf(identity);
    const allowed = checkSubscribeFilter(permissions, filter);
    if (!allowed.ok) throw deps.audit.refuse(ctx, `filter ${describeFilter(filter)}`, allowed.rule, allowed.message);
    const maySee = identity.via === "open" ? undefined : (event: StreamEvent) => canSeeEvent(permissions, event);

    // Released by cleanUp(), which a piped stream reaches when its pipe ends, and otherwise when
    // the call's signal aborts too (see open()).
    const leases = (this.leases = new Leases(this.backendTopics.map(({ pubsub, topic }) => deps.topics.acquire(pubsub, topic))));
    if (leases.all.every((l) => l.hasConnected)) return this.open(maySee);
    return waitConnected(
      leases.all.map((l) => l.connected),
      ctx.signal,
    ).then(() => (this.finished ? DONE : this.open(maySee)), this.fail); // finished: return() came while waiting
  }

  /** Registers the subscriber and sends the headers; then the pipe's outcome, or the first event through Connect. */
  private open(maySee: ((event: StreamEvent) => boolean) | undefined): Promise<IteratorResult<StreamEvent>> {
    const { deps, ctx } = this;
    const control = ctx.values.get(streamControlKey);
    let piped: Promise<void> | undefined;
    try {
      // No signal yet: a piped stream ends with its pipe, and only a stream that goes through
      // Connect needs the call's signal (an AbortSignal and its listeners cost an idle stream
      // about 700 bytes; the fast path creates the signal only when something asks for it).
      this.feed = deps.subscribers.open({
        filter: this.filter,
        lifecycleOf: this.lifecycleOf,
        maySee,
        onCut: () => {
          // The stream ends with RESOURCE_EXHAUSTED once the reader drains what is in flight; a
          // reader that never does is reset after the grace period.
          this.resetTimer = setTimeout(() => control?.reset(), deps.slowConsumerGraceMs);
          this.resetTimer.unref();
        },
      });
      control?.sendHeaders(ctx.responseHeader);
      // The fast path: the transport writes the events itself and this stream yields none; it
      // ends or fails once the feed ends, and Connect ends the stream as usual.
      piped = control?.pipe?.(StreamEventSchema, ctx.responseHeader, this.feed);
      // The call's signal ends the subscription and its leases when the call has a deadline (the
      // pipe knows only when the client goes), and for a stream through Connect: one blocked on
      // a slow reader may never be asked for its next event, so it would not reach cleanUp().
      if (piped === undefined || ctx.timeoutMs() !== undefined) {
        this.feed.endWith(ctx.signal);
        this.leasesEndWithSignal = true;
        ctx.signal.addEventListener("abort", this.leases as Leases, { once: true });
      }
      if (piped === undefined) this.events = deps.subscribers.iterate(this.feed)[Symbol.asyncIterator]();
    } catch (err) {
      this.cleanUp();
      return Promise.reject(err);
    }
    return piped !== undefined ? piped.then(this.complete, this.fail) : this.next();
  }

  /** The events ended without an error. */
  private readonly complete = (): IteratorResult<StreamEvent> => {
    this.cleanUp();
    // The feed ends without an error only when the call's signal aborted: the deadline passed
    // (DEADLINE_EXCEEDED, as the client must learn) or the client went away.
    const { signal } = this.ctx;
    if (signal.aborted) throw ConnectError.from(signal.reason, Code.Canceled);
    return DONE;
  };

  private readonly fail = (err: unknown): never => {
    this.cleanUp();
    throw err;
  };

  private cleanUp(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.resetTimer);
    this.feed?.close();
    const events = this.events;
    this.events = undefined;
    void events?.return?.().catch(() => {});
    const leases = this.leases;
    if (leases !== undefined) {
      if (this.leasesEndWithSignal) this.ctx.signal.removeEventListener("abort", leases);
      leases.releaseAll();
    }
  }
}

/** The backend topics a subscription holds; released when the call's signal aborts (handleEvent). */
class Leases {
  constructor(readonly all: readonly TopicLease[]) {}

  handleEvent(): void {
    this.releaseAll();
  }

  releaseAll(): void {
    for (const lease of this.all) lease.release();
  }
}

async function waitConnected(connected: Promise<void>[], signal: AbortSignal): Promise<void> {
  if (connected.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      Promise.all(connected),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new ConnectError("the backend subscription did not connect in time", Code.Unavailable)),
          BACKEND_CONNECT_TIMEOUT_MS,
        );
        onAbort = () => reject(new ConnectError("the call was cancelled", Code.Canceled));
        signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
  }
}

function describeFilter(filter: SubscriptionFilter): string {
  return JSON.stringify({ services: [...filter.services], topics: [...filter.topics], eventTypes: [...filter.eventTypes] });
}
