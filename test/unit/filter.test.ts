import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  EVENT_TYPES,
  eventScopes,
  filterScopes,
  isEventType,
  matchesFilter,
  type EventCoordinates,
  type EventType,
  type SubscriptionFilter,
} from "../../src/events/filter.js";

function filter(f: { services?: string[]; topics?: string[]; eventTypes?: EventType[] } = {}): SubscriptionFilter {
  return {
    services: new Set(f.services ?? []),
    topics: new Set(f.topics ?? []),
    eventTypes: new Set(f.eventTypes ?? []),
  };
}

function event(service: string, topic: string, eventType: string): EventCoordinates {
  return { service, topic, eventType };
}

/** Every subset of a small list. */
function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((acc, x) => [...acc, ...acc.map((s) => [...s, x])], [[]]);
}

function intersects(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return b.some((x) => set.has(x));
}

describe("isEventType", () => {
  it("knows exactly state, pubsub and system", () => {
    assert.deepEqual([...EVENT_TYPES], ["state", "pubsub", "system"]);
    for (const t of EVENT_TYPES) assert.equal(isEventType(t), true);
    for (const t of ["", "State", "lifecycle", "pubsub ", "global"]) assert.equal(isEventType(t), false);
  });
});

describe("matchesFilter", () => {
  const e = event("workmanager", "workmanager.workerstatus", "pubsub");
  const table: ReadonlyArray<readonly [string, SubscriptionFilter, boolean]> = [
    ["empty filter (global)", filter(), true],
    ["same service", filter({ services: ["workmanager"] }), true],
    ["other service", filter({ services: ["state"] }), false],
    ["OR within services", filter({ services: ["state", "workmanager"] }), true],
    ["same topic", filter({ topics: ["workmanager.workerstatus"] }), true],
    ["other topic", filter({ topics: ["state-changes"] }), false],
    ["OR within topics", filter({ topics: ["state-changes", "workmanager.workerstatus"] }), true],
    ["same event type", filter({ eventTypes: ["pubsub"] }), true],
    ["other event type", filter({ eventTypes: ["state"] }), false],
    ["OR within event types", filter({ eventTypes: ["state", "pubsub"] }), true],
    ["AND: service and topic match", filter({ services: ["workmanager"], topics: ["workmanager.workerstatus"] }), true],
    ["AND: service matches, topic does not", filter({ services: ["workmanager"], topics: ["x"] }), false],
    ["AND: topic matches, service does not", filter({ services: ["state"], topics: ["workmanager.workerstatus"] }), false],
    ["AND: service and type match", filter({ services: ["workmanager"], eventTypes: ["pubsub"] }), true],
    ["AND: service matches, type does not", filter({ services: ["workmanager"], eventTypes: ["system"] }), false],
    ["AND: topic and type match", filter({ topics: ["workmanager.workerstatus"], eventTypes: ["pubsub"] }), true],
    ["AND: topic matches, type does not", filter({ topics: ["workmanager.workerstatus"], eventTypes: ["state"] }), false],
    [
      "AND of three, all match",
      filter({ services: ["workmanager"], topics: ["workmanager.workerstatus"], eventTypes: ["pubsub"] }),
      true,
    ],
    [
      "AND of three, one misses",
      filter({ services: ["workmanager"], topics: ["workmanager.workerstatus"], eventTypes: ["system"] }),
      false,
    ],
    [
      "AND across fields with OR inside each",
      filter({ services: ["state", "workmanager"], topics: ["a", "workmanager.workerstatus"], eventTypes: ["system", "pubsub"] }),
      true,
    ],
    ["service name is compared exactly", filter({ services: ["WorkManager"] }), false],
    ["topic is not a prefix match", filter({ topics: ["workmanager"] }), false],
  ];
  for (const [name, f, expected] of table) {
    it(`${name} -> ${expected}`, () => {
      assert.equal(matchesFilter(f, e), expected);
    });
  }

  it("an event of an unknown type matches only filters without event types", () => {
    const odd = event("a", "t", "lifecycle");
    assert.equal(matchesFilter(filter(), odd), true);
    assert.equal(matchesFilter(filter({ services: ["a"] }), odd), true);
    assert.equal(matchesFilter(filter({ eventTypes: [...EVENT_TYPES] }), odd), false);
  });
});

describe("eventScopes", () => {
  it("lists the scopes of event-streaming.txt plus topic/{topic}", () => {
    assert.deepEqual(eventScopes(event("state", "state-changes", "state")), [
      "global",
      "state",
      "state/state-changes",
      "event-type/state",
      "event-type/state/state",
      "topic/state-changes",
    ]);
  });
});

describe("filterScopes", () => {
  it("is exactly [global] for the empty filter", () => {
    assert.deepEqual(filterScopes(filter()), ["global"]);
  });

  const table: ReadonlyArray<readonly [string, SubscriptionFilter, string[]]> = [
    ["services", filter({ services: ["a", "b"] }), ["a", "b"]],
    ["services x topics", filter({ services: ["a", "b"], topics: ["t"] }), ["a/t", "b/t"]],
    ["services x types", filter({ services: ["a"], eventTypes: ["state", "system"] }), ["event-type/state/a", "event-type/system/a"]],
    ["services x topics x types", filter({ services: ["a"], topics: ["t"], eventTypes: ["pubsub"] }), ["event-type/pubsub/a"]],
    ["types", filter({ eventTypes: ["pubsub"] }), ["event-type/pubsub"]],
    ["topics", filter({ topics: ["t1", "t2"] }), ["topic/t1", "topic/t2"]],
    ["topics x types", filter({ topics: ["t"], eventTypes: ["state"] }), ["event-type/state"]],
  ];
  for (const [name, f, expected] of table) {
    it(`registers ${name} under ${JSON.stringify(expected)}`, () => {
      assert.deepEqual([...filterScopes(f)].sort(), [...expected].sort());
    });
  }

  const services = ["a", "b", "c"];
  const topics = ["t1", "t2", "a.t"];
  const types = [...EVENT_TYPES];
  const allFilters = subsets(services).flatMap((s) =>
    subsets(topics).flatMap((t) => subsets(types).map((y) => filter({ services: s, topics: t, eventTypes: y }))),
  );
  const allEvents = services.flatMap((s) => topics.flatMap((t) => [...types, "other"].map((y) => event(s, t, y))));

  it("exhaustively over small alphabets: a match always shares a scope, and global means the empty filter", () => {
    assert.equal(allFilters.length, 512);
    let matches = 0;
    for (const f of allFilters) {
      const fs = filterScopes(f);
      const empty = f.services.size === 0 && f.topics.size === 0 && f.eventTypes.size === 0;
      assert.equal(fs.includes("global"), empty);
      if (empty) assert.deepEqual(fs, ["global"]);
      for (const e of allEvents) {
        if (!matchesFilter(f, e)) continue;
        matches++;
        assert.ok(intersects(fs, eventScopes(e)), `filter ${JSON.stringify(fs)} misses ${JSON.stringify(e)}`);
      }
    }
    assert.ok(matches > 1000, `only ${matches} matches: the check would be vacuous`);
  });

  it("exhaustively: matchesFilter is AND across fields and OR within each", () => {
    for (const f of allFilters) {
      for (const e of allEvents) {
        const expected =
          (f.services.size === 0 || [...f.services].some((s) => s === e.service)) &&
          (f.topics.size === 0 || [...f.topics].some((t) => t === e.topic)) &&
          (f.eventTypes.size === 0 || [...f.eventTypes].some((t) => t === e.eventType));
        assert.equal(matchesFilter(f, e), expected);
      }
    }
  });

  const filterArb = fc
    .record({
      services: fc.subarray(services),
      topics: fc.subarray(topics),
      eventTypes: fc.subarray(types),
    })
    .map((r) => filter(r));
  const eventArb = fc
    .record({
      service: fc.constantFrom(...services),
      topic: fc.constantFrom(...topics),
      eventType: fc.constantFrom<string>(...types, "other"),
    })
    .map((r) => event(r.service, r.topic, r.eventType));

  it("property: matchesFilter(f, e) implies filterScopes(f) and eventScopes(e) intersect", () => {
    let matched = 0;
    fc.assert(
      fc.property(filterArb, eventArb, (f, e) => {
        if (!matchesFilter(f, e)) return;
        matched++;
        assert.ok(intersects(filterScopes(f), eventScopes(e)));
      }),
      { numRuns: 2000 },
    );
    assert.ok(matched > 100, `only ${matched} of 2000 runs matched`);
  });

  it("property: filterScopes is global only for the empty filter", () => {
    fc.assert(
      fc.property(filterArb, (f) => {
        const empty = f.services.size + f.topics.size + f.eventTypes.size === 0;
        assert.equal(filterScopes(f).includes("global"), empty);
        if (empty) assert.deepEqual(filterScopes(f), ["global"]);
      }),
    );
  });
});
