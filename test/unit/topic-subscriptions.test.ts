/**
 * Backend subscriptions are reference counted: one per (component, topic) however many local
 * subscribers, closed when the last leaves, pinned ones never. The backend here is a counting
 * fake adapter (named as such): what is tested is the bookkeeping, not a broker.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DaprAdapter, TopicHandlers } from "../../src/dapr/adapter.js";
import { SubscriptionManager } from "../../src/events/subscription-manager.js";
import { TopicSubscriptions } from "../../src/events/topic-subscriptions.js";
import { createServiceRegistry } from "../../src/services/registry.js";

function countingFakeAdapter() {
  const open = new Map<string, TopicHandlers>();
  let opened = 0;
  const fake = {
    subscribe(pubsub: string, topic: string, handlers: TopicHandlers) {
      opened++;
      open.set(`${pubsub}/${topic}`, handlers);
      return { close: async () => void open.delete(`${pubsub}/${topic}`) };
    },
  } as unknown as DaprAdapter;
  return { fake, open, opened: () => opened };
}

describe("TopicSubscriptions", () => {
  const registry = createServiceRegistry({ services: [{ name: "a" }] }, { pubsubName: "p", stateStoreName: "s" });

  it("opens one backend subscription per topic however many leases, and closes it with the last", () => {
    const { fake, open, opened } = countingFakeAdapter();
    const topics = new TopicSubscriptions({ adapter: fake, registry, subscribers: new SubscriptionManager({ bufferSize: 10 }) });
    const leases = [topics.acquire("p", "a.x"), topics.acquire("p", "a.x"), topics.acquire("p", "a.x")];
    assert.equal(opened(), 1);
    assert.equal(open.size, 1);
    leases[0]!.release();
    leases[0]!.release(); // a second release of the same lease changes nothing
    leases[1]!.release();
    assert.equal(open.size, 1, "still one user");
    leases[2]!.release();
    assert.equal(open.size, 0, "closed with the last user");
    topics.acquire("p", "a.x");
    assert.equal(opened(), 2, "a new user opens it again");
  });

  it("keeps pinned subscriptions open and reports connection through the lease", async () => {
    const { fake, open } = countingFakeAdapter();
    const topics = new TopicSubscriptions({ adapter: fake, registry, subscribers: new SubscriptionManager({ bufferSize: 10 }) });
    topics.openPinned([{ pubsub: "p", topic: "state-changes" }]);
    const lease = topics.acquire("p", "state-changes");
    lease.release();
    assert.equal(open.size, 1, "pinned stays open");
    assert.equal(topics.allConnected, false);
    open.get("p/state-changes")!.onStatus("connected");
    await lease.connected;
    await topics.pinnedConnected();
    assert.equal(topics.allConnected, true);
    open.get("p/state-changes")!.onStatus("disconnected", "broker down");
    assert.equal(topics.allConnected, false);
    assert.deepEqual(topics.snapshot(), [{ pubsub: "p", topic: "state-changes", status: "disconnected", refs: 0, pinned: true }]);
  });
});
