/**
 * The shared body of Gateway.Subscribe and Pubsub.Subscribe: take the backend topics the filter
 * needs, register the subscriber, send the response headers (the client now knows it is
 * subscribed), then stream. Cleanup hangs off the request's abort signal as well as `finally`,
 * because a generator blocked on a slow reader never reaches its `finally`.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import type { SubscriptionFilter } from "../events/filter.js";
import { identityKey } from "../auth/access-control.js";
import { canSeeEvent, checkSubscribeFilter } from "../auth/permissions.js";
import { streamControlKey } from "../server/stream-control.js";
import type { HandlerDeps } from "./deps.js";

/** How long a new subscription waits for its backend subscription before giving up. */
const BACKEND_CONNECT_TIMEOUT_MS = 10_000;

export async function* streamEvents(
  deps: HandlerDeps,
  ctx: HandlerContext,
  filter: SubscriptionFilter,
  backendTopics: ReadonlyArray<{ readonly pubsub: string; readonly topic: string }>,
  lifecycleOf?: string,
): AsyncGenerator<StreamEvent> {
  // Access control first: a filter the caller may not use fails at once, not as an empty stream.
  const identity = deps.policy.identityOf(ctx.values.get(identityKey), "");
  const permissions = deps.policy.permissionsOf(identity);
  const allowed = checkSubscribeFilter(permissions, filter);
  if (!allowed.ok) throw deps.audit.refuse(ctx, `filter ${describeFilter(filter)}`, allowed.rule, allowed.message);
  const maySee = identity.via === "open" ? undefined : (event: StreamEvent) => canSeeEvent(permissions, event);

  const leases = new Leases(backendTopics.map(({ pubsub, topic }) => deps.topics.acquire(pubsub, topic)));
  ctx.signal.addEventListener("abort", leases, { once: true });
  try {
    await waitConnected(
      leases.all.map((l) => l.connected),
      ctx.signal,
    );
    const control = ctx.values.get(streamControlKey);
    let resetTimer: NodeJS.Timeout | undefined;
    const feed = deps.subscribers.open({
      filter,
      lifecycleOf,
      maySee,
      signal: ctx.signal,
      onCut: () => {
        // The stream ends with RESOURCE_EXHAUSTED once the reader drains what is in flight; a
        // reader that never does is reset after the grace period.
        resetTimer = setTimeout(() => control?.reset(), deps.slowConsumerGraceMs);
        resetTimer.unref();
      },
    });
    try {
      control?.sendHeaders(ctx.responseHeader);
      // The fast path: the transport writes the events itself and this generator yields none;
      // it returns or throws once the feed ends, and Connect ends the stream as usual.
      const piped = control?.pipe?.(StreamEventSchema, ctx.responseHeader, feed);
      if (piped !== undefined) await piped;
      else yield* deps.subscribers.iterate(feed);
      // The feed ends without an error only when the call's signal aborted: the deadline passed
      // (DEADLINE_EXCEEDED, as the client must learn) or the client went away.
      if (ctx.signal.aborted) throw ConnectError.from(ctx.signal.reason, Code.Canceled);
    } finally {
      clearTimeout(resetTimer);
      feed.close();
    }
  } finally {
    ctx.signal.removeEventListener("abort", leases);
    leases.releaseAll();
  }
}

/** The backend topics a subscription holds; released when the call's signal aborts (handleEvent). */
class Leases {
  constructor(readonly all: ReadonlyArray<{ readonly connected: Promise<void>; release(): void }>) {}

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
