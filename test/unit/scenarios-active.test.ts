import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { ActiveScenarios } from "../../src/scenarios/active-scenarios.js";
import { scenarioChangeOf, scenarioEvent, SCENARIOS_TOPIC, type ScenarioEventKind } from "../../src/scenarios/events.js";
import { decodeScenarioRecord, encodeScenarioRecord, scenarioIdOfKey, scenarioKey, type ScenarioRecord } from "../../src/scenarios/record.js";
import type { ScenarioPage } from "../../src/scenarios/scenario-registry.js";
import type { ScenarioStatus } from "../../src/scenarios/rules.js";

const T0 = "2025-01-01T00:00:00.000Z";
const T1 = "2025-01-01T00:05:00.000Z";

function record(scenarioId: string, status: ScenarioStatus, revision: number, createdAt = T0): ScenarioRecord {
  return { scenarioId, status, description: "", createdAt, updatedAt: createdAt, revision };
}

/** The StreamEvent a subscriber receives for a registry change (as EventPublisher builds it). */
function event(kind: ScenarioEventKind, after: ScenarioRecord): StreamEvent {
  const out = scenarioEvent("pubsub", kind, after, new Date(T0), () => "id-1");
  return create(StreamEventSchema, {
    service: out.service,
    topic: out.topic,
    eventType: out.eventType,
    data: out.data,
    metadata: { ...out.metadata },
  });
}

function lister(records: ScenarioRecord[], pageSize = 2): { list(n: number, token: string): Promise<ScenarioPage> } {
  return {
    async list(_n, token) {
      const start = token === "" ? 0 : Number(token);
      const end = start + pageSize;
      return { scenarios: records.slice(start, end), nextPageToken: end < records.length ? String(end) : "" };
    },
  };
}

describe("stored records and events", () => {
  it("encodes the stored JSON with a fixed field order and decodes it back", () => {
    const r = record("s-1", "paused", 3);
    const json = encodeScenarioRecord(r);
    assert.deepEqual(Object.keys(JSON.parse(json)), ["scenarioId", "status", "description", "createdAt", "updatedAt", "revision"]);
    assert.deepEqual(decodeScenarioRecord(json, "s-1"), r);
    assert.equal(decodeScenarioRecord(json, "s-2"), undefined, "another id's record");
    assert.equal(decodeScenarioRecord("{", "s-1"), undefined);
    assert.equal(decodeScenarioRecord(JSON.stringify({ ...r, status: "deleted" }), "s-1"), undefined);
    const { revision: _, ...withoutRevision } = r;
    assert.equal(decodeScenarioRecord(JSON.stringify(withoutRevision), "s-1")?.revision, 1);
  });

  it("maps keys to ids, and nothing else", () => {
    assert.equal(scenarioKey("s-1"), "scenario.s-1");
    assert.equal(scenarioIdOfKey("scenario.s-1"), "s-1");
    assert.equal(scenarioIdOfKey("scenario.LIVE"), undefined);
    assert.equal(scenarioIdOfKey("scenario-claims.03"), undefined);
    assert.equal(scenarioIdOfKey("scenario.Bad"), undefined);
    assert.equal(scenarioIdOfKey("other"), undefined);
  });

  it("builds CloudEvents system events on virtufin-api.scenarios", () => {
    const out = scenarioEvent("pubsub", "paused", record("s-1", "paused", 2), new Date(T1), () => "the-id");
    assert.equal(out.topic, SCENARIOS_TOPIC);
    assert.equal(out.topic, "virtufin-api.scenarios");
    assert.equal(out.service, "virtufin-api");
    assert.equal(out.eventType, "system");
    assert.deepEqual(out.metadata, {
      "ce-id": "the-id",
      "ce-source": "urn:com.virtufin.virtufin-api",
      "ce-type": "com.virtufin.virtufin-api.scenario.paused",
      "ce-time": T1,
      "ce-specversion": "1.0",
      "ce-datacontenttype": "application/json",
      "ce-subject": "s-1",
    });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.data)), record("s-1", "paused", 2));
    const deleted = scenarioEvent("pubsub", "deleted", record("s-1", "archived", 5), new Date(T1));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(deleted.data)), { scenarioId: "s-1", status: "deleted", createdAt: T0, revision: 5 });
  });

  it("reads changes only from registry events", () => {
    assert.deepEqual(scenarioChangeOf(event("created", record("s-1", "active", 1))), {
      scenarioId: "s-1",
      status: "active",
      createdAt: T0,
      revision: 1,
    });
    const e = event("created", record("s-1", "active", 1));
    assert.equal(scenarioChangeOf({ ...e, topic: "other.topic" }), undefined);
    assert.equal(scenarioChangeOf({ ...e, service: "workmanager" }), undefined);
    assert.equal(scenarioChangeOf({ ...e, metadata: { ...e.metadata, "ce-type": "com.virtufin.other" } }), undefined);
    assert.equal(scenarioChangeOf({ ...e, data: new TextEncoder().encode("not json") }), undefined);
    assert.equal(scenarioChangeOf({ ...e, data: new TextEncoder().encode('{"scenarioId":"LIVE","status":"paused","createdAt":"x"}') }), undefined);
  });
});

describe("ActiveScenarios", () => {
  it("LIVE is always active, even before loading; unknown ids are not", () => {
    const active = new ActiveScenarios();
    assert.equal(active.ready, false);
    assert.equal(active.isActive("LIVE"), true);
    assert.equal(active.statusOf("LIVE"), "active");
    assert.equal(active.isActive("s-1"), false);
    assert.equal(active.statusOf("s-1"), undefined);
  });

  it("loads every page and becomes ready", async () => {
    const active = new ActiveScenarios();
    await active.load(lister([record("a", "active", 1), record("b", "paused", 2), record("c", "archived", 3), record("d", "active", 1)]));
    assert.equal(active.ready, true);
    assert.equal(active.size, 4);
    assert.deepEqual(["a", "b", "c", "d", "e"].map((id) => active.isActive(id)), [true, false, false, true, false]);
    assert.equal(active.statusOf("c"), "archived");
  });

  it("follows pause, resume, archive and delete", () => {
    const active = new ActiveScenarios();
    assert.equal(active.apply(event("created", record("s", "active", 1))), true);
    assert.equal(active.isActive("s"), true);
    active.apply(event("paused", record("s", "paused", 2)));
    assert.equal(active.isActive("s"), false);
    active.apply(event("resumed", record("s", "active", 3)));
    assert.equal(active.isActive("s"), true);
    active.apply(event("archived", record("s", "archived", 4)));
    assert.equal(active.isActive("s"), false);
    active.apply(event("deleted", record("s", "archived", 5)));
    assert.deepEqual([active.isActive("s"), active.statusOf("s"), active.size], [false, undefined, 0]);
  });

  it("ignores events older than what it has applied", () => {
    const active = new ActiveScenarios();
    active.apply(event("created", record("s", "active", 1)));
    active.apply(event("resumed", record("s", "active", 3)));
    assert.equal(active.apply(event("paused", record("s", "paused", 2))), false, "the pause was overtaken by the resume");
    assert.equal(active.isActive("s"), true);
    assert.equal(active.apply(event("resumed", record("s", "active", 3))), false, "a duplicate");
  });

  it("a late event of a deleted scenario does not resurrect it; a new incarnation does", () => {
    const active = new ActiveScenarios();
    active.apply(event("created", record("s", "active", 1)));
    active.apply(event("deleted", record("s", "archived", 4)));
    assert.equal(active.apply(event("resumed", record("s", "active", 3))), false);
    assert.equal(active.isActive("s"), false);
    assert.equal(active.apply(event("created", record("s", "active", 1, T1))), true, "created again later");
    assert.equal(active.isActive("s"), true);
    assert.equal(active.apply(event("paused", record("s", "paused", 2))), false, "a pause of the old incarnation");
    assert.equal(active.isActive("s"), true);
  });

  it("forgets tombstones after their TTL", () => {
    let now = 0;
    const active = new ActiveScenarios({ tombstoneTtlMs: 1000, clock: () => now });
    active.apply(event("created", record("s", "active", 1)));
    active.apply(event("deleted", record("s", "archived", 2)));
    now = 5000;
    active.apply(event("created", record("other", "active", 1)));
    assert.equal(active.apply(event("resumed", record("s", "active", 1))), true, "the tombstone is gone");
  });

  it("a load keeps newer events applied while it ran and drops scenarios no longer stored", async () => {
    const active = new ActiveScenarios();
    active.apply(event("created", record("gone", "active", 1)));
    const slow = {
      async list(_n: number, token: string): Promise<ScenarioPage> {
        if (token === "") {
          // While the first page is in flight, s is paused (revision 2) and n is created.
          active.apply(event("paused", record("s", "paused", 2)));
          active.apply(event("created", record("n", "active", 1)));
          return { scenarios: [record("s", "active", 1)], nextPageToken: "next" };
        }
        return { scenarios: [record("t", "active", 1)], nextPageToken: "" };
      },
    };
    await active.load(slow);
    assert.equal(active.isActive("s"), false, "the snapshot's older revision does not undo the pause");
    assert.equal(active.isActive("n"), true, "created after its page was read");
    assert.equal(active.isActive("t"), true);
    assert.equal(active.isActive("gone"), false, "no longer stored");
  });
});
