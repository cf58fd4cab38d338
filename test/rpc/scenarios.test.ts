/**
 * The Scenarios service in-process (createRouterTransport with the real error boundary) over a
 * real EmbeddedAdapter on a temporary folder and a real EventPublisher.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { Scenarios, ScenarioStatus } from "../../gen/virtufin/api/v1/scenarios_pb.js";
import type { DaprAdapter } from "../../src/dapr/adapter.js";
import { EmbeddedAdapter } from "../../src/dapr/embedded/embedded-adapter.js";
import { EventPublisher } from "../../src/events/publisher.js";
import { createScenariosHandlers } from "../../src/handlers/scenarios.js";
import { silentLogger } from "../../src/observability/logger.js";
import { ActiveScenarios } from "../../src/scenarios/active-scenarios.js";
import { claimKey, CreateClaims } from "../../src/scenarios/create-claims.js";
import { SCENARIOS_TOPIC } from "../../src/scenarios/events.js";
import { ScenarioRegistry } from "../../src/scenarios/scenario-registry.js";
import { errorBoundary } from "../../src/server/interceptors.js";
import { GATEWAY_SERVICE } from "../../src/services/registry.js";
import { tempDir } from "../support/gateway.js";

const STORE = "statestore";
const PUBSUB = "pubsub";

interface Harness {
  readonly adapter: EmbeddedAdapter;
  readonly registry: ScenarioRegistry;
  readonly client: Client<typeof Scenarios>;
}

async function open(dataDir: string): Promise<Harness> {
  const adapter = new EmbeddedAdapter({ dataDir });
  await adapter.start();
  const registry = new ScenarioRegistry({ adapter, publisher: new EventPublisher(adapter), store: STORE, pubsub: PUBSUB });
  const transport = createRouterTransport(({ service }) => service(Scenarios, createScenariosHandlers(registry)), {
    router: { interceptors: [errorBoundary(silentLogger())] },
  });
  return { adapter, registry, client: createClient(Scenarios, transport) };
}

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  assert.fail("expected the call to fail");
}

/** Polls until `cond` holds or `ms` pass. */
async function eventually(cond: () => boolean, ms = 1000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail("the condition did not hold in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The adapter with saveState of one key held until `open()`; `reached` resolves when one is held. */
function gateWrites(adapter: DaprAdapter, key: string): { adapter: DaprAdapter; reached: Promise<void>; open(): void } {
  let open = () => {};
  const opened = new Promise<void>((r) => (open = r));
  let reach = () => {};
  const reached = new Promise<void>((r) => (reach = r));
  const saveState: DaprAdapter["saveState"] = async (store, service, k, value, etag, signal) => {
    if (k === key) {
      reach();
      await opened;
    }
    return adapter.saveState(store, service, k, value, etag, signal);
  };
  // Every other member is the adapter's own, called on the adapter itself.
  const gated = new Proxy(adapter, {
    get: (target, prop) => {
      if (prop === "saveState") return saveState;
      const member: unknown = Reflect.get(target, prop, target);
      return typeof member === "function" ? member.bind(target) : member;
    },
  });
  return { adapter: gated, reached, open };
}

function subscribeEvents(adapter: EmbeddedAdapter, onEvent: (e: StreamEvent) => void) {
  let connected = () => {};
  const ready = new Promise<void>((r) => (connected = r));
  const sub = adapter.subscribe(PUBSUB, SCENARIOS_TOPIC, {
    onEvent,
    onStatus: (s) => {
      if (s === "connected") connected();
    },
  });
  return { ready, close: () => sub.close() };
}

describe("Scenarios over the embedded adapter", () => {
  const dir = tempDir("virtufin-scenarios-");
  let h: Harness;

  before(async () => {
    h = await open(dir.path);
  });
  after(async () => {
    await h.adapter.close();
    dir.remove();
  });

  it("runs the whole lifecycle, with one event per change, and ActiveScenarios follows it", async () => {
    const events: StreamEvent[] = [];
    const active = new ActiveScenarios();
    const sub = subscribeEvents(h.adapter, (e) => {
      events.push(e);
      active.apply(e);
    });
    await sub.ready;
    await active.load(h.registry);
    assert.equal(active.ready, true);
    try {
      const created = (await h.client.createScenario({ scenarioId: "q3-backtest", description: "Q3 backtest" })).scenario;
      assert.ok(created);
      assert.deepEqual([created.scenarioId, created.status, created.description], ["q3-backtest", ScenarioStatus.ACTIVE, "Q3 backtest"]);
      assert.ok(!Number.isNaN(Date.parse(created.createdAt)));
      assert.equal(created.updatedAt, created.createdAt);
      await eventually(() => active.isActive("q3-backtest"));

      const got = (await h.client.getScenario({ scenarioId: "q3-backtest" })).scenario;
      assert.deepEqual(got, created);

      const paused = (await h.client.pauseScenario({ scenarioId: "q3-backtest" })).scenario;
      assert.equal(paused?.status, ScenarioStatus.PAUSED);
      assert.equal(paused?.createdAt, created.createdAt);
      await eventually(() => !active.isActive("q3-backtest"));

      assert.equal((await h.client.resumeScenario({ scenarioId: "q3-backtest" })).scenario?.status, ScenarioStatus.ACTIVE);
      await eventually(() => active.isActive("q3-backtest"));

      assert.equal((await h.client.archiveScenario({ scenarioId: "q3-backtest" })).scenario?.status, ScenarioStatus.ARCHIVED);
      await eventually(() => active.statusOf("q3-backtest") === "archived");
      assert.equal(active.isActive("q3-backtest"), false);

      const deleted = await h.client.deleteScenario({ scenarioId: "q3-backtest" });
      assert.deepEqual([deleted.status?.success, deleted.status?.message], [true, "OK"]);
      assert.equal((await failure(h.client.getScenario({ scenarioId: "q3-backtest" }))).code, Code.NotFound);
      await eventually(() => active.statusOf("q3-backtest") === undefined);

      await eventually(() => events.length === 5);
      assert.deepEqual(
        events.map((e) => e.metadata["ce-type"]),
        ["created", "paused", "resumed", "archived", "deleted"].map((k) => `com.virtufin.virtufin-api.scenario.${k}`),
      );
      for (const e of events) {
        assert.deepEqual([e.service, e.topic, e.eventType], [GATEWAY_SERVICE, "virtufin-api.scenarios", "system"]);
        assert.equal(e.metadata["ce-source"], "urn:com.virtufin.virtufin-api");
        assert.equal(e.metadata["ce-subject"], "q3-backtest");
        assert.equal(e.metadata["ce-specversion"], "1.0");
        assert.equal(e.metadata["ce-datacontenttype"], "application/json");
        assert.equal(e.messageId, e.metadata["ce-id"]);
      }
      const data = events.map((e) => JSON.parse(new TextDecoder().decode(e.data)) as Record<string, unknown>);
      assert.deepEqual(
        data.map((d) => [d["status"], d["revision"]]),
        [["active", 1], ["paused", 2], ["active", 3], ["archived", 4], ["deleted", 5]],
      );
      assert.deepEqual(Object.keys(data[0] ?? {}), ["scenarioId", "status", "description", "createdAt", "updatedAt", "revision"]);
      assert.deepEqual(data[4], { scenarioId: "q3-backtest", status: "deleted", createdAt: created.createdAt, revision: 5 });

      // A deleted id is free again.
      assert.equal((await h.client.createScenario({ scenarioId: "q3-backtest" })).scenario?.status, ScenarioStatus.ACTIVE);
      await eventually(() => active.isActive("q3-backtest"));
    } finally {
      await sub.close();
    }
  });

  it("stores the record as JSON under scenario.<id> of the gateway's service", async () => {
    await h.client.createScenario({ scenarioId: "stored-shape", description: "d" });
    const stored = await h.adapter.getState(STORE, GATEWAY_SERVICE, "scenario.stored-shape");
    assert.ok(stored);
    const json = JSON.parse(stored.value) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ["scenarioId", "status", "description", "createdAt", "updatedAt", "revision"]);
    assert.deepEqual([json["scenarioId"], json["status"], json["description"], json["revision"]], ["stored-shape", "active", "d", 1]);
  });

  it("refuses illegal transitions with FAILED_PRECONDITION naming the current status", async () => {
    const id = "illegal";
    await h.client.createScenario({ scenarioId: id });
    const cases: Array<[string, () => Promise<unknown>, Code, RegExp]> = [
      ["resume of active", () => h.client.resumeScenario({ scenarioId: id }), Code.FailedPrecondition, /already active/],
      ["delete of active", () => h.client.deleteScenario({ scenarioId: id }), Code.FailedPrecondition, /it is active; archive it first/],
      ["create of existing", () => h.client.createScenario({ scenarioId: id }), Code.AlreadyExists, /already exists \(status: active\)/],
    ];
    for (const [name, call, code, message] of cases) {
      const err = await failure(call());
      assert.equal(err.code, code, name);
      assert.match(err.rawMessage, message, name);
    }
    await h.client.pauseScenario({ scenarioId: id });
    let err = await failure(h.client.pauseScenario({ scenarioId: id }));
    assert.deepEqual([err.code, /already paused/.test(err.rawMessage)], [Code.FailedPrecondition, true]);
    err = await failure(h.client.deleteScenario({ scenarioId: id }));
    assert.deepEqual([err.code, /it is paused/.test(err.rawMessage)], [Code.FailedPrecondition, true]);

    await h.client.archiveScenario({ scenarioId: id });
    for (const call of [
      () => h.client.pauseScenario({ scenarioId: id }),
      () => h.client.resumeScenario({ scenarioId: id }),
      () => h.client.archiveScenario({ scenarioId: id }),
    ]) {
      err = await failure(call());
      assert.equal(err.code, Code.FailedPrecondition);
      assert.match(err.rawMessage, /archived/);
    }
    err = await failure(h.client.createScenario({ scenarioId: id }));
    assert.deepEqual([err.code, /status: archived/.test(err.rawMessage)], [Code.AlreadyExists, true]);
    // Nothing changed on the way.
    assert.equal((await h.client.getScenario({ scenarioId: id })).scenario?.status, ScenarioStatus.ARCHIVED);
  });

  it("answers NOT_FOUND for changes of a scenario that does not exist", async () => {
    for (const call of [
      () => h.client.getScenario({ scenarioId: "nope" }),
      () => h.client.pauseScenario({ scenarioId: "nope" }),
      () => h.client.resumeScenario({ scenarioId: "nope" }),
      () => h.client.archiveScenario({ scenarioId: "nope" }),
      () => h.client.deleteScenario({ scenarioId: "nope" }),
    ]) {
      const err = await failure(call());
      assert.equal(err.code, Code.NotFound);
      assert.match(err.rawMessage, /scenario "nope" not found/);
    }
  });

  it("treats LIVE as reserved: readable and always active, never created, changed or deleted", async () => {
    const live = (await h.client.getScenario({ scenarioId: "LIVE" })).scenario;
    assert.deepEqual([live?.scenarioId, live?.status], ["LIVE", ScenarioStatus.ACTIVE]);
    for (const call of [
      () => h.client.createScenario({ scenarioId: "LIVE" }),
      () => h.client.pauseScenario({ scenarioId: "LIVE" }),
      () => h.client.resumeScenario({ scenarioId: "LIVE" }),
      () => h.client.archiveScenario({ scenarioId: "LIVE" }),
      () => h.client.deleteScenario({ scenarioId: "LIVE" }),
    ]) {
      const err = await failure(call());
      assert.equal(err.code, Code.InvalidArgument);
      assert.match(err.rawMessage, /LIVE is reserved/);
    }
    assert.equal(await h.adapter.getState(STORE, GATEWAY_SERVICE, "scenario.LIVE"), undefined, "nothing stored for LIVE");
  });

  it("refuses malformed ids, descriptions, page sizes and page tokens with INVALID_ARGUMENT", async () => {
    for (const id of ["", "-a", "A", `a${"b".repeat(63)}`, "a_b", "a.b", "live"]) {
      if (id === "live") continue; // "live" is a valid ordinary id; LIVE is the reserved one.
      for (const call of [
        () => h.client.createScenario({ scenarioId: id }),
        () => h.client.getScenario({ scenarioId: id }),
        () => h.client.pauseScenario({ scenarioId: id }),
        () => h.client.deleteScenario({ scenarioId: id }),
      ]) {
        const err = await failure(call());
        assert.equal(err.code, Code.InvalidArgument, JSON.stringify(id));
        assert.match(err.rawMessage, /scenario_id/);
      }
    }
    let err = await failure(h.client.createScenario({ scenarioId: "long-desc", description: "x".repeat(1025) }));
    assert.deepEqual([err.code, /description/.test(err.rawMessage)], [Code.InvalidArgument, true]);
    err = await failure(h.client.listScenarios({ pageSize: -1 }));
    assert.deepEqual([err.code, /page_size/.test(err.rawMessage)], [Code.InvalidArgument, true]);
    for (const pageToken of ["not base64!", "Zm9v", Buffer.from("after:Bad_Id").toString("base64url"), "x".repeat(300)]) {
      err = await failure(h.client.listScenarios({ pageToken }));
      assert.deepEqual([err.code, /page_token/.test(err.rawMessage)], [Code.InvalidArgument, true], pageToken);
    }
  });

  it("reports a corrupt stored record as INTERNAL without its details", async () => {
    await h.adapter.saveState(STORE, GATEWAY_SERVICE, "scenario.corrupt", "{not json", undefined);
    const err = await failure(h.client.getScenario({ scenarioId: "corrupt" }));
    assert.deepEqual([err.code, err.rawMessage], [Code.Internal, "internal error"]);
    await h.adapter.deleteState(STORE, GATEWAY_SERVICE, "scenario.corrupt", undefined);
  });

  it("lets exactly one of two replicas create an id, and exactly one pause it", async () => {
    // A second registry on the same store plays the second replica.
    const other = new ScenarioRegistry({ adapter: h.adapter, publisher: new EventPublisher(h.adapter), store: STORE, pubsub: PUBSUB });
    for (let round = 0; round < 20; round++) {
      const id = `race-${round}`;
      const results = await Promise.allSettled([
        h.registry.create(id, "from replica one"),
        other.create(id, "from replica two"),
        h.registry.create(id, "from replica one again"),
        other.create(id, "from replica two again"),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      assert.equal(won.length, 1, `round ${round}: one creator wins`);
      for (const r of results) {
        if (r.status === "rejected") assert.equal(ConnectError.from(r.reason).code, Code.AlreadyExists);
      }
      const winner = (won[0] as PromiseFulfilledResult<{ description: string }>).value;
      assert.equal((await h.registry.get(id)).description, winner.description, "the stored record is the winner's");

      const pauses = await Promise.allSettled([h.registry.pause(id), other.pause(id), h.registry.pause(id)]);
      assert.equal(pauses.filter((r) => r.status === "fulfilled").length, 1, `round ${round}: one pause wins`);
      for (const r of pauses) {
        if (r.status === "rejected") {
          assert.equal(ConnectError.from(r.reason).code, Code.FailedPrecondition);
          assert.match(ConnectError.from(r.reason).rawMessage, /already paused/);
        }
      }
      assert.equal((await h.registry.get(id)).revision, 2);
    }
  });

  it("never resurrects a deleted scenario: a change that read it before the delete finds it gone", async () => {
    const id = "resurrect";
    await h.registry.create(id, "");
    await h.registry.pause(id);
    // Replica two reads "paused" and decides to resume; its write is held until the scenario is
    // archived and deleted on replica one.
    const gate = gateWrites(h.adapter, `scenario.${id}`);
    const other = new ScenarioRegistry({ adapter: gate.adapter, publisher: new EventPublisher(h.adapter), store: STORE, pubsub: PUBSUB });
    const resume = other.resume(id);
    await gate.reached;
    await h.registry.archive(id);
    await h.registry.delete(id);
    gate.open();
    const err = await failure(resume);
    assert.equal(err.code, Code.NotFound, "its compare-and-swap lost, and the re-read found the record gone");
    assert.equal(await h.adapter.getState(STORE, GATEWAY_SERVICE, `scenario.${id}`), undefined, "still deleted");
  });

  it("serialises two creations of one id: the second waits for the first's claim and finds the record", async () => {
    const id = "claimed";
    const gate = gateWrites(h.adapter, `scenario.${id}`);
    const other = new ScenarioRegistry({ adapter: gate.adapter, publisher: new EventPublisher(h.adapter), store: STORE, pubsub: PUBSUB });
    const first = other.create(id, "first");
    await gate.reached; // replica two holds the claim and has read "absent"
    const second = h.registry.create(id, "second");
    await new Promise((r) => setTimeout(r, 50));
    gate.open();
    assert.equal((await first).description, "first");
    const err = await failure(second);
    assert.deepEqual([err.code, /already exists \(status: active\)/.test(err.rawMessage)], [Code.AlreadyExists, true]);
    assert.equal((await h.registry.get(id)).description, "first");
  });

  it("takes over the claim of a creator that died holding it once the claim expires", async () => {
    const crashed = new CreateClaims({ adapter: h.adapter, store: STORE, claimTtlMs: 200 });
    await crashed.acquire("orphan"); // never released
    const started = Date.now();
    assert.equal((await h.registry.create("orphan", "")).status, "active");
    assert.ok(Date.now() - started >= 150, "it waited for the claim to expire");
    const table = await h.adapter.getState(STORE, GATEWAY_SERVICE, claimKey("orphan"));
    assert.deepEqual(JSON.parse(table?.value ?? "{}"), { claims: {} }, "and left no claim behind");
  });

  it("keeps the records across a restart of the store", async () => {
    await h.client.createScenario({ scenarioId: "r-active", description: "stays active" });
    await h.client.createScenario({ scenarioId: "r-paused" });
    await h.client.pauseScenario({ scenarioId: "r-paused" });
    await h.client.createScenario({ scenarioId: "r-archived" });
    await h.client.archiveScenario({ scenarioId: "r-archived" });
    const before = (await h.client.listScenarios({ pageSize: 1000 })).scenarios;

    await h.adapter.close();
    h = await open(dir.path);

    const afterRestart = (await h.client.listScenarios({ pageSize: 1000 })).scenarios;
    assert.deepEqual(afterRestart, before);
    assert.deepEqual(
      await Promise.all(["r-active", "r-paused", "r-archived"].map(async (scenarioId) => (await h.client.getScenario({ scenarioId })).scenario?.status)),
      [ScenarioStatus.ACTIVE, ScenarioStatus.PAUSED, ScenarioStatus.ARCHIVED],
    );
    assert.equal((await h.client.getScenario({ scenarioId: "r-active" })).scenario?.description, "stays active");
    // And the lifecycle continues where it was.
    assert.equal((await h.client.resumeScenario({ scenarioId: "r-paused" })).scenario?.status, ScenarioStatus.ACTIVE);
    await h.client.deleteScenario({ scenarioId: "r-archived" });
    const active = new ActiveScenarios();
    await active.load(h.registry);
    assert.deepEqual(["r-active", "r-paused", "r-archived"].map((id) => active.isActive(id)), [true, true, false]);
  });
});

describe("ListScenarios over 10,000 scenarios", () => {
  const dir = tempDir("virtufin-scenarios-10k-");
  let h: Harness;
  const ids = Array.from({ length: 10_000 }, (_, i) => `sc-${String(i).padStart(5, "0")}`);

  before(async () => {
    h = await open(dir.path);
    // Through the registry (claims, CAS, events), 32 at a time, in shuffled order.
    const order = [...ids].sort(() => Math.random() - 0.5);
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < order.length) await h.registry.create(order[next++] as string, "");
      }),
    );
    const ms = Date.now() - started;
    if (ms > 15_000) assert.fail(`creating 10,000 scenarios took ${ms} ms`);
  });
  after(async () => {
    await h.adapter.close();
    dir.remove();
  });

  it("pages through all of them with page size 1000: each id once, in order", async () => {
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await h.client.listScenarios({ pageSize: 1000, pageToken });
      pages++;
      assert.ok(page.scenarios.length <= 1000);
      for (const s of page.scenarios) {
        seen.push(s.scenarioId);
        assert.equal(s.status, ScenarioStatus.ACTIVE);
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && pages < 20);
    assert.equal(pages, 10);
    assert.equal(seen.length, 10_000);
    assert.deepEqual(seen, ids);
  });

  it("defaults to 100, clamps to 1000, and the last page has no token", async () => {
    assert.equal((await h.client.listScenarios({})).scenarios.length, 100);
    const big = await h.client.listScenarios({ pageSize: 5000 });
    assert.equal(big.scenarios.length, 1000);
    assert.notEqual(big.nextPageToken, "");
    const last = await h.client.listScenarios({ pageSize: 1000, pageToken: Buffer.from("after:sc-09994").toString("base64url") });
    assert.deepEqual(last.scenarios.map((s) => s.scenarioId), ["sc-09995", "sc-09996", "sc-09997", "sc-09998", "sc-09999"]);
    assert.equal(last.nextPageToken, "");
  });

  it("loads all of them into ActiveScenarios", async () => {
    const active = new ActiveScenarios();
    await active.load(h.registry);
    assert.equal(active.size, 10_000);
    assert.ok(ids.every((id) => active.isActive(id)));
  });
});
