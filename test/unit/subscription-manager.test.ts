import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import type { EventType, SubscriptionFilter } from "../../src/events/filter.js";
import { SubscriptionManager, type SubscriptionManagerOptions } from "../../src/events/subscription-manager.js";

function filter(f: { services?: string[]; topics?: string[]; eventTypes?: EventType[] } = {}): SubscriptionFilter {
  return {
    services: new Set(f.services ?? []),
    topics: new Set(f.topics ?? []),
    eventTypes: new Set(f.eventTypes ?? []),
  };
}

let seq = 0;
function streamEvent(service: string, topic: string, eventType: EventType = "pubsub", messageId = `m${++seq}`): StreamEvent {
  return create(StreamEventSchema, {
    timestamp: "2024-01-01T00:00:00Z",
    service,
    topic,
    eventType,
    data: new TextEncoder().encode("{}"),
    messageId,
    metadata: { "ce-id": messageId },
  });
}

const pinned = { pinnedTopic: true } as const;

/** A subscriber with its own abort controller and iterator. */
function subscribe(
  manager: SubscriptionManager,
  f: SubscriptionFilter = filter(),
  extra: { lifecycleOf?: string; onCut?: () => void } = {},
) {
  const controller = new AbortController();
  const stream = manager.subscribe({ filter: f, signal: controller.signal, ...extra });
  const iterator = stream[Symbol.asyncIterator]();
  return {
    controller,
    iterator,
    /** Ends the subscription and returns every event that was still queued for it. */
    async drainAll(): Promise<string[]> {
      controller.abort();
      const ids: string[] = [];
      for (;;) {
        const r = await iterator.next();
        if (r.done === true) return ids;
        ids.push(r.value.messageId);
      }
    },
  };
}

function manager(options: Partial<SubscriptionManagerOptions> = {}): SubscriptionManager {
  return new SubscriptionManager({ bufferSize: 100, ...options });
}

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  assert.fail("expected the promise to reject");
}

describe("SubscriptionManager: fan-out", () => {
  it("queues an event once for a subscriber that several of its scopes match", async () => {
    const m = manager();
    // Registered under "global" (its filter) and "lifecycle/orders"; the lifecycle event reaches both.
    const sub = subscribe(m, filter(), { lifecycleOf: "orders" });
    const reached = m.broadcast(streamEvent("workmanager", "workmanager.workerstatus", "system", "once"), {
      pinnedTopic: true,
      lifecycleOf: "orders",
    });
    assert.equal(reached, 1);
    assert.deepEqual(await sub.drainAll(), ["once"]);
    assert.equal(m.stats.delivered, 1);
  });

  it("queues an event once when the event's own scopes repeat (a service named like a scope)", async () => {
    const m = manager();
    const sub = subscribe(m, filter({ services: ["global"] }));
    // eventScopes lists "global" twice for service "global".
    assert.equal(m.broadcast(streamEvent("global", "global.x", "pubsub", "g1"), pinned), 1);
    assert.deepEqual(await sub.drainAll(), ["g1"]);
  });

  it("delivers to every subscriber whose filter matches and to no one else", async () => {
    const m = manager();
    const subs = {
      global: subscribe(m),
      service: subscribe(m, filter({ services: ["workmanager"] })),
      otherService: subscribe(m, filter({ services: ["state"] })),
      topic: subscribe(m, filter({ topics: ["workmanager.workerstatus"] })),
      otherTopic: subscribe(m, filter({ topics: ["state-changes"] })),
      type: subscribe(m, filter({ eventTypes: ["pubsub"] })),
      otherType: subscribe(m, filter({ eventTypes: ["state", "system"] })),
      serviceAndType: subscribe(m, filter({ services: ["workmanager"], eventTypes: ["pubsub"] })),
      serviceNotType: subscribe(m, filter({ services: ["workmanager"], eventTypes: ["state"] })),
      serviceAndTopic: subscribe(m, filter({ services: ["workmanager"], topics: ["workmanager.workerstatus"] })),
    };
    const reached = m.broadcast(streamEvent("workmanager", "workmanager.workerstatus", "pubsub", "e1"), pinned);
    assert.equal(reached, 6);
    const got: Record<string, string[]> = {};
    for (const [name, sub] of Object.entries(subs)) got[name] = await sub.drainAll();
    assert.deepEqual(got, {
      global: ["e1"],
      service: ["e1"],
      otherService: [],
      topic: ["e1"],
      otherTopic: [],
      type: ["e1"],
      otherType: [],
      serviceAndType: ["e1"],
      serviceNotType: [],
      serviceAndTopic: ["e1"],
    });
  });

  it("keeps events in order per subscriber", async () => {
    const m = manager();
    const sub = subscribe(m);
    for (let i = 0; i < 20; i++) m.broadcast(streamEvent("a", "a.t", "pubsub", `o${i}`), pinned);
    assert.deepEqual(
      await sub.drainAll(),
      Array.from({ length: 20 }, (_, i) => `o${i}`),
    );
  });

  it("wakes a reader that is waiting for the next event", async () => {
    const m = manager();
    const sub = subscribe(m);
    const pending = sub.iterator.next();
    m.broadcast(streamEvent("a", "a.t", "pubsub", "w1"), pinned);
    const r = await pending;
    assert.equal(r.done, false);
    assert.equal(r.done === false ? r.value.messageId : "", "w1");
    sub.controller.abort();
  });

  it("delivers events of a topic that is not pinned only to subscribers naming the topic", async () => {
    const m = manager();
    const subs = {
      global: subscribe(m),
      namesTopic: subscribe(m, filter({ topics: ["sc.s1.orders"] })),
      serviceAndTopic: subscribe(m, filter({ services: ["workmanager"], topics: ["sc.s1.orders"] })),
      serviceOnly: subscribe(m, filter({ services: ["workmanager"] })),
      typeOnly: subscribe(m, filter({ eventTypes: ["pubsub"] })),
      otherTopic: subscribe(m, filter({ topics: ["sc.s2.orders"] })),
      topicWrongService: subscribe(m, filter({ services: ["state"], topics: ["sc.s1.orders"] })),
    };
    const reached = m.broadcast(streamEvent("workmanager", "sc.s1.orders", "pubsub", "np"), { pinnedTopic: false });
    assert.equal(reached, 2);
    const got: Record<string, string[]> = {};
    for (const [name, sub] of Object.entries(subs)) got[name] = await sub.drainAll();
    assert.deepEqual(got, {
      global: [],
      namesTopic: ["np"],
      serviceAndTopic: ["np"],
      serviceOnly: [],
      typeOnly: [],
      otherTopic: [],
      topicWrongService: [],
    });
  });

  it("delivers lifecycle events to subscribers asking for that topic's lifecycle, whatever their filter", async () => {
    const m = manager();
    const subs = {
      lifecycle: subscribe(m, filter({ services: ["nobody"] }), { lifecycleOf: "sc.s1.orders" }),
      otherLifecycle: subscribe(m, filter({ services: ["nobody"] }), { lifecycleOf: "sc.s2.orders" }),
      global: subscribe(m),
      status: subscribe(m, filter({ topics: ["workmanager.workerstatus"] })),
    };
    const lifecycleEvent = streamEvent("workmanager", "workmanager.workerstatus", "system", "lc");
    assert.equal(m.broadcast(lifecycleEvent, { pinnedTopic: false, lifecycleOf: "sc.s1.orders" }), 2);
    const got: Record<string, string[]> = {};
    for (const [name, sub] of Object.entries(subs)) got[name] = await sub.drainAll();
    assert.deepEqual(got, { lifecycle: ["lc"], otherLifecycle: [], global: [], status: ["lc"] });
  });

  it("a pinned lifecycle event also reaches global subscribers", async () => {
    const m = manager();
    const lifecycle = subscribe(m, filter({ services: ["nobody"] }), { lifecycleOf: "t" });
    const global = subscribe(m);
    assert.equal(m.broadcast(streamEvent("w", "w.status", "system", "pl"), { pinnedTopic: true, lifecycleOf: "t" }), 2);
    assert.deepEqual(await lifecycle.drainAll(), ["pl"]);
    assert.deepEqual(await global.drainAll(), ["pl"]);
  });

  it("does not deliver a lifecycle event to a lifecycle subscriber when the broadcast is not a lifecycle one", async () => {
    const m = manager();
    const lifecycle = subscribe(m, filter({ services: ["nobody"] }), { lifecycleOf: "t" });
    assert.equal(m.broadcast(streamEvent("w", "t", "pubsub", "x"), pinned), 0);
    assert.deepEqual(await lifecycle.drainAll(), []);
  });
});

describe("SubscriptionManager: limits", () => {
  it("refuses subscribers beyond maxSubscribers with RESOURCE_EXHAUSTED and accepts again after one leaves", () => {
    const m = manager({ maxSubscribers: 2 });
    const a = subscribe(m);
    subscribe(m);
    assert.equal(m.stats.active, 2);
    assert.throws(
      () => subscribe(m),
      (e: unknown) => {
        const err = ConnectError.from(e);
        assert.equal(err.code, Code.ResourceExhausted);
        assert.match(err.rawMessage, /2 subscribers/);
        return true;
      },
    );
    assert.equal(m.stats.active, 2);
    a.controller.abort();
    assert.equal(m.stats.active, 1);
    subscribe(m);
    assert.equal(m.stats.active, 2);
  });

  it("refuses an already-aborted signal with CANCELED and registers nothing", () => {
    const m = manager();
    const controller = new AbortController();
    controller.abort();
    assert.throws(
      () => m.subscribe({ filter: filter(), signal: controller.signal }),
      (e: unknown) => ConnectError.from(e).code === Code.Canceled,
    );
    assert.equal(m.stats.active, 0);
  });

  it("cuts a subscriber that overflows its buffer, and only that one", async () => {
    let slowConsumerCalls = 0;
    let cutCalls = 0;
    const m = manager({ bufferSize: 3, onSlowConsumer: () => slowConsumerCalls++ });
    const slow = subscribe(m, filter(), { onCut: () => cutCalls++ });
    const fast = subscribe(m);
    const fastIds: string[] = [];
    for (let i = 0; i < 10; i++) {
      m.broadcast(streamEvent("a", "a.t", "pubsub", `e${i}`), pinned);
      const r = await fast.iterator.next();
      assert.equal(r.done, false);
      if (r.done === false) fastIds.push(r.value.messageId);
    }
    assert.deepEqual(
      fastIds,
      Array.from({ length: 10 }, (_, i) => `e${i}`),
    );
    assert.equal(m.stats.slowConsumersCut, 1);
    assert.equal(m.stats.active, 1);
    assert.equal(slowConsumerCalls, 1);
    assert.equal(cutCalls, 1);
    assert.ok(m.stats.maxQueueDepth <= 3);

    const err = await rejection(slow.iterator.next());
    assert.equal(err.code, Code.ResourceExhausted);
    assert.match(err.rawMessage, /slow consumer/);
    // The stream is over after the error.
    assert.deepEqual(await slow.iterator.next(), { done: true, value: undefined });

    fast.controller.abort();
    assert.equal(m.stats.active, 0);
  });

  it("cuts a lone slow subscriber: active drops to 0, callbacks once, reader gets RESOURCE_EXHAUSTED", async () => {
    let slowConsumerCalls = 0;
    let cutCalls = 0;
    const m = manager({ bufferSize: 3, onSlowConsumer: () => slowConsumerCalls++ });
    const slow = subscribe(m, filter(), { onCut: () => cutCalls++ });
    const reached = Array.from({ length: 10 }, (_, i) => m.broadcast(streamEvent("a", "a.t", "pubsub", `s${i}`), pinned));
    // Three fit, the fourth overflows; afterwards the subscriber is gone.
    assert.deepEqual(reached.slice(0, 3), [1, 1, 1]);
    assert.deepEqual(reached.slice(4), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(m.stats, { active: 0, delivered: 3, slowConsumersCut: 1, dropped: 4, maxQueueDepth: 3 });
    assert.equal(slowConsumerCalls, 1);
    assert.equal(cutCalls, 1);
    const err = await rejection(slow.iterator.next());
    assert.equal(err.code, Code.ResourceExhausted);
    // Aborting later changes nothing.
    slow.controller.abort();
    assert.equal(m.stats.active, 0);
    assert.equal(m.stats.slowConsumersCut, 1);
  });

  it("a reader blocked on next() when it is cut gets RESOURCE_EXHAUSTED", async () => {
    const m = manager({ bufferSize: 1 });
    const sub = subscribe(m);
    m.broadcast(streamEvent("a", "a.t", "pubsub", "b1"), pinned);
    const first = await sub.iterator.next();
    assert.equal(first.done === false ? first.value.messageId : "", "b1");
    m.broadcast(streamEvent("a", "a.t", "pubsub", "b2"), pinned);
    m.broadcast(streamEvent("a", "a.t", "pubsub", "b3"), pinned);
    assert.equal(m.stats.slowConsumersCut, 1);
    const err = await rejection(sub.iterator.next());
    assert.equal(err.code, Code.ResourceExhausted);
  });

  it("property: queue depth never exceeds bufferSize and delivery follows the model", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.constantFrom("broadcast", "read"), { maxLength: 60 }),
        async (bufferSize, ops) => {
          let cutCalls = 0;
          const m = new SubscriptionManager({ bufferSize });
          const sub = subscribe(m, filter(), { onCut: () => cutCalls++ });
          let depth = 0;
          let cut = false;
          let sent = 0;
          let read = 0;
          let ended = false;
          for (const op of ops) {
            if (ended) break;
            if (op === "broadcast") {
              const id = `p${sent++}`;
              const reached = m.broadcast(streamEvent("a", "a.t", "pubsub", id), pinned);
              if (cut) {
                assert.equal(reached, 0);
              } else if (depth >= bufferSize) {
                cut = true;
                depth = 0;
              } else {
                assert.equal(reached, 1);
                depth++;
              }
            } else if (cut) {
              const err = await rejection(sub.iterator.next());
              assert.equal(err.code, Code.ResourceExhausted);
              ended = true;
            } else if (depth > 0) {
              const r = await sub.iterator.next();
              assert.equal(r.done, false);
              // Events arrive in order and none is skipped before the cut.
              assert.equal(r.done === false ? r.value.messageId : "", `p${read++}`);
              depth--;
            }
            assert.ok(m.stats.maxQueueDepth <= bufferSize);
          }
          assert.equal(m.stats.slowConsumersCut, cut ? 1 : 0);
          assert.equal(cutCalls, cut ? 1 : 0);
          assert.equal(m.stats.active, cut ? 0 : 1);
          sub.controller.abort();
          assert.equal(m.stats.active, 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("SubscriptionManager: removal", () => {
  it("removes a subscriber the moment its signal aborts, with nobody awaiting the iterator", () => {
    const m = manager();
    const controller = new AbortController();
    m.subscribe({ filter: filter(), signal: controller.signal });
    assert.equal(m.stats.active, 1);
    controller.abort();
    assert.equal(m.stats.active, 0);
    assert.equal(m.broadcast(streamEvent("a", "a.t"), pinned), 0);
  });

  it("a feed opened without a signal stays until it is closed, or until a signal bound later with endWith aborts", () => {
    const m = manager();
    const feed = m.open({ filter: filter() });
    assert.equal(m.broadcast(streamEvent("a", "a.t"), pinned), 1, "no signal: registered all the same");
    const controller = new AbortController();
    feed.endWith(controller.signal);
    assert.throws(() => feed.endWith(new AbortController().signal), /already ends with a signal/);
    assert.equal(m.stats.active, 1);
    controller.abort();
    assert.equal(m.stats.active, 0);
    assert.deepEqual(feed.ending(), {}, "the feed ends normally");

    const closed = m.open({ filter: filter() });
    closed.close();
    assert.equal(m.stats.active, 0, "close() removes a feed that never had a signal");

    const late = m.open({ filter: filter() });
    late.endWith(AbortSignal.abort());
    assert.equal(m.stats.active, 0, "a signal that already aborted removes the feed at once");
  });

  it("removes a subscriber whose iterator was never started from every scope", () => {
    const m = manager();
    const controller = new AbortController();
    m.subscribe({ filter: filter({ services: ["a", "b"], topics: ["t"] }), signal: controller.signal, lifecycleOf: "t" });
    controller.abort();
    assert.equal(m.broadcast(streamEvent("a", "t"), pinned), 0);
    assert.equal(m.broadcast(streamEvent("b", "t"), pinned), 0);
    assert.equal(m.broadcast(streamEvent("x", "y", "system"), { pinnedTopic: true, lifecycleOf: "t" }), 0);
  });

  it("ends a reader awaiting the next event when the signal aborts", async () => {
    const m = manager();
    const sub = subscribe(m);
    const pending = sub.iterator.next();
    sub.controller.abort();
    assert.equal(m.stats.active, 0);
    assert.deepEqual(await pending, { done: true, value: undefined });
  });

  it("removes the subscriber when the consumer stops iterating", async () => {
    const m = manager();
    const controller = new AbortController();
    const stream = m.subscribe({ filter: filter(), signal: controller.signal });
    m.broadcast(streamEvent("a", "a.t", "pubsub", "r1"), pinned);
    for await (const e of stream) {
      assert.equal(e.messageId, "r1");
      break;
    }
    assert.equal(m.stats.active, 0);
    assert.equal(m.broadcast(streamEvent("a", "a.t"), pinned), 0);
  });

  it("closeAll ends every stream with its reason after what was already queued", async () => {
    const m = manager();
    const a = subscribe(m);
    const b = subscribe(m, filter({ services: ["a"] }));
    m.broadcast(streamEvent("a", "a.t", "pubsub", "c1"), pinned);
    m.closeAll(new ConnectError("shutting down", Code.Unavailable));
    assert.equal(m.stats.active, 0);
    const readAll = async (it: AsyncIterator<StreamEvent>) => {
      const ids: string[] = [];
      try {
        for (let r = await it.next(); r.done !== true; r = await it.next()) ids.push(r.value.messageId);
      } catch (e) {
        ids.push(Code[ConnectError.from(e).code]);
      }
      return ids;
    };
    assert.deepEqual(await readAll(a.iterator), ["c1", "Unavailable"]);
    assert.deepEqual(await readAll(b.iterator), ["c1", "Unavailable"]);
    assert.equal(m.broadcast(streamEvent("a", "a.t"), pinned), 0);
  });

  it("counts active subscribers exactly through any mix of subscribes and aborts", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 9 }), { maxLength: 50 }), (ops) => {
        const m = manager();
        const live: AbortController[] = [];
        for (const op of ops) {
          if (op < 5 || live.length === 0) {
            const c = new AbortController();
            m.subscribe({ filter: filter(), signal: c.signal });
            live.push(c);
          } else {
            const [c] = live.splice(op % live.length, 1);
            c?.abort();
            c?.abort();
          }
          assert.equal(m.stats.active, live.length);
        }
        assert.equal(m.broadcast(streamEvent("a", "a.t"), pinned), live.length);
      }),
    );
  });
});
