import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Readiness } from "../../src/health/readiness.js";

function recorder(readiness: Readiness): boolean[] {
  const seen: boolean[] = [];
  readiness.onChange((ready) => seen.push(ready));
  return seen;
}

describe("Readiness", () => {
  it("is ready at once with no conditions", () => {
    const r = new Readiness([]);
    assert.equal(r.ready, true);
    assert.deepEqual(r.waitingFor, []);
    assert.equal(r.isShuttingDown, false);
  });

  it("waits for every condition and notifies once when the last one is met", () => {
    const r = new Readiness(["store", "subscriptions"]);
    const seen = recorder(r);
    assert.equal(r.ready, false);
    assert.deepEqual(r.waitingFor.sort(), ["store", "subscriptions"]);
    r.set("store", true);
    assert.equal(r.ready, false);
    assert.deepEqual(r.waitingFor, ["subscriptions"]);
    assert.deepEqual(seen, []);
    r.set("subscriptions", true);
    assert.equal(r.ready, true);
    assert.deepEqual(r.waitingFor, []);
    assert.deepEqual(seen, [true]);
    r.set("store", true); // no change, no notification
    assert.deepEqual(seen, [true]);
  });

  it("becomes unready when a condition is lost, and ready again when it is back", () => {
    const r = new Readiness(["store"]);
    r.set("store", true);
    const seen = recorder(r);
    r.set("store", false);
    r.set("store", false);
    assert.equal(r.ready, false);
    assert.deepEqual(r.waitingFor, ["store"]);
    r.set("store", true);
    assert.deepEqual(seen, [false, true]);
  });

  it("adds a condition it did not know when one is reported unmet", () => {
    const r = new Readiness([]);
    const seen = recorder(r);
    r.set("broker", false);
    assert.equal(r.ready, false);
    assert.deepEqual(r.waitingFor, ["broker"]);
    assert.deepEqual(seen, [false]);
  });

  it("shutdown flips ready to false and notifies every listener exactly once", () => {
    const r = new Readiness(["store"]);
    r.set("store", true);
    const a = recorder(r);
    const b = recorder(r);
    r.beginShutdown();
    assert.equal(r.ready, false);
    assert.equal(r.isShuttingDown, true);
    assert.deepEqual(r.waitingFor, ["shutdown"]);
    r.beginShutdown();
    r.set("store", true);
    r.set("store", false);
    r.set("store", true);
    assert.equal(r.ready, false);
    assert.deepEqual(a, [false]);
    assert.deepEqual(b, [false]);
  });

  it("shutdown while not ready notifies nobody, and stays unready", () => {
    const r = new Readiness(["store"]);
    const seen = recorder(r);
    r.beginShutdown();
    r.set("store", true);
    assert.equal(r.ready, false);
    assert.deepEqual(r.waitingFor, ["shutdown"]);
    assert.deepEqual(seen, []);
  });

  it("stops notifying a listener once it unsubscribes", () => {
    const r = new Readiness(["store"]);
    const seen: boolean[] = [];
    const off = r.onChange((ready) => seen.push(ready));
    r.set("store", true);
    off();
    r.set("store", false);
    assert.deepEqual(seen, [true]);
  });

  it("property: ready equals (no shutdown and every condition met), and listeners see only changes", () => {
    const conditions = ["a", "b", "c"];
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), condition: fc.constantFrom(...conditions), met: fc.boolean() }),
      fc.record({ kind: fc.constant("shutdown" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const r = new Readiness(conditions);
        const seen = recorder(r);
        const met = new Set<string>();
        let shutdown = false;
        let last = false;
        const expectedSeen: boolean[] = [];
        for (const o of ops) {
          if (o.kind === "shutdown") {
            r.beginShutdown();
            shutdown = true;
          } else {
            r.set(o.condition, o.met);
            if (o.met) met.add(o.condition);
            else met.delete(o.condition);
          }
          const ready: boolean = !shutdown && met.size === conditions.length;
          if (ready !== last) expectedSeen.push(ready);
          last = ready;
          assert.equal(r.ready, ready);
        }
        assert.deepEqual(seen, expectedSeen);
      }),
    );
  });
});
