import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Identity } from "../../src/auth/identity.js";
import {
  allowedBy,
  canActAs,
  canReadState,
  canSeeEvent,
  canWriteState,
  checkSubscribeFilter,
  openPermissions,
  parsePermissions,
  permissionsFor,
  permissionsOf,
  PermissionsConfigError,
  type Decision,
  type FilterRequest,
  type ServicePermissions,
} from "../../src/auth/permissions.js";

const KNOWN = ["workmanager", "websocketmanager", "feeder", "dashboard", "state"];

const id = (service: string, admin = false): Identity => ({ service, admin, via: "token" });

const TABLE = parsePermissions(
  {
    services: {
      feeder: { publish: { allow: ["{self}.*", "md.>"], deny: ["md.internal.>"] } },
      dashboard: { subscribe: { allow: ["md.>", "state-changes", "{self}.*"], deny: ["md.secret.*"] }, stateRead: ["workmanager"] },
      websocketmanager: { stateRead: ["*"] },
      state: { admin: true },
    },
  },
  KNOWN,
);

function denied(d: Decision, rule: RegExp, message?: RegExp): void {
  assert.equal(d.ok, false, "expected a refusal");
  if (d.ok) return;
  assert.match(d.rule, rule);
  if (message !== undefined) assert.match(d.message, message);
}

describe("allowedBy", () => {
  const rows: ReadonlyArray<readonly [name: string, allow: string[], deny: string[], subject: string, allowed: boolean, rule: string]> = [
    ["allowed by a literal", ["a.b"], [], "a.b", true, 'allow "a.b"'],
    ["allowed by *", ["a.*"], [], "a.b", true, 'allow "a.*"'],
    ["allowed by >", [">"], [], "x.y.z", true, 'allow ">"'],
    ["first allow that matches is named", ["x.*", "a.*", ">"], [], "a.b", true, 'allow "a.*"'],
    ["nothing allows", ["a.*"], [], "b.c", false, "no allow pattern matches"],
    ["empty allow list", [], [], "a", false, "no allow pattern matches"],
    ["deny wins over allow", [">"], ["b.*"], "b.c", false, 'deny "b.*"'],
    ["deny wins over a literal allow", ["b.c"], ["b.c"], "b.c", false, 'deny "b.c"'],
    ["deny that does not match leaves allow", [">"], ["b.*"], "b.c.d", true, 'allow ">"'],
    ["deny with > over a deep subject", ["md.>"], ["md.internal.>"], "md.internal.x.y", false, 'deny "md.internal.>"'],
  ];
  for (const [name, allow, deny, subject, allowed, rule] of rows) {
    it(name, () => assert.deepEqual(allowedBy({ allow, deny }, subject), { allowed, rule }));
  }
});

describe("parsePermissions", () => {
  it("returns an empty table for no config", () => {
    assert.equal(parsePermissions(undefined, KNOWN).services.size, 0);
    assert.equal(parsePermissions({ services: {} }, KNOWN).services.size, 0);
  });

  const bad: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ["not an object", [], /expected \{"services"/],
    ["unknown top-level field", { service: {} }, /unknown field "service"/],
    ["services not an object", { services: [] }, /"services" must be an object/],
    ["unknown service", { services: { nobody: {} } }, /services\.nobody: unknown service "nobody"/],
    ["entry not an object", { services: { feeder: true } }, /services\.feeder must be an object/],
    ["unknown field in an entry", { services: { feeder: { publsh: {} } } }, /services\.feeder: unknown field "publsh"/],
    ["publish not an object", { services: { feeder: { publish: ["md.>"] } } }, /services\.feeder\.publish must be an object/],
    ["unknown field in rules", { services: { feeder: { publish: { allows: [] } } } }, /services\.feeder\.publish: unknown field "allows"/],
    ["allow not a list", { services: { feeder: { publish: { allow: "md.>" } } } }, /services\.feeder\.publish\.allow must be a list/],
    ["pattern not a string", { services: { feeder: { subscribe: { deny: [1] } } } }, /services\.feeder\.subscribe\.deny\[0\] is not a string/],
    ["malformed pattern", { services: { feeder: { publish: { allow: ["md..x"] } } } }, /services\.feeder\.publish\.allow\[0\]: .*empty token/],
    ["> not last", { services: { feeder: { publish: { deny: ["md.>.x"] } } } }, /services\.feeder\.publish\.deny\[0\]: .*last token/],
    ["upper case pattern", { services: { feeder: { publish: { allow: ["MD.>"] } } } }, /token "MD"/],
    ["stateRead not a list", { services: { feeder: { stateRead: "state" } } }, /services\.feeder\.stateRead must be a list/],
    ["stateRead unknown service", { services: { feeder: { stateRead: ["ghost"] } } }, /services\.feeder\.stateRead\[0\]: unknown service "ghost"/],
    ["admin not a boolean", { services: { feeder: { admin: "yes" } } }, /services\.feeder\.admin must be true or false/],
  ];
  for (const [name, raw, re] of bad) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => parsePermissions(raw, KNOWN),
        (e: unknown) => e instanceof PermissionsConfigError && e.name === "PermissionsConfigError" && re.test(e.message),
      );
    });
  }
});

describe("permissionsFor", () => {
  it("has the defaults for a service without an entry", () => {
    assert.deepEqual(permissionsFor(TABLE, "workmanager"), {
      service: "workmanager",
      publish: { allow: ["workmanager.*"], deny: [] },
      subscribe: { allow: [">"], deny: [] },
      stateRead: [],
      admin: false,
    });
  });

  it("expands {self} and replaces (does not merge) the lists it is given", () => {
    const p = permissionsFor(TABLE, "feeder");
    assert.deepEqual(p.publish, { allow: ["feeder.*", "md.>"], deny: ["md.internal.>"] });
    assert.deepEqual(p.subscribe, { allow: [">"], deny: [] });
    const d = permissionsFor(TABLE, "dashboard");
    assert.deepEqual(d.subscribe.allow, ["md.>", "state-changes", "dashboard.*"]);
    assert.deepEqual(d.publish, { allow: ["dashboard.*"], deny: [] }, "publish keeps its default");
  });

  it("permissionsOf makes a caller admin when its identity or its entry says so", () => {
    assert.equal(permissionsOf(TABLE, id("workmanager", true)).admin, true);
    assert.equal(permissionsOf(TABLE, id("state")).admin, true);
    assert.equal(permissionsOf(TABLE, id("workmanager")).admin, false);
  });

  it("the default service publishes on its own lifecycle topics only", () => {
    const p = permissionsFor(TABLE, "workmanager");
    assert.equal(allowedBy(p.publish, "workmanager.status").allowed, true);
    assert.equal(allowedBy(p.publish, "workmanager.a.b").allowed, false);
    assert.equal(allowedBy(p.publish, "websocketmanager.status").allowed, false);
    assert.equal(allowedBy(p.subscribe, "anything.at.all").allowed, true);
  });
});

describe("canActAs", () => {
  it("accepts the caller's own service", () => assert.deepEqual(canActAs(id("workmanager"), "workmanager"), { ok: true }));
  it("accepts any service for an admin", () => assert.deepEqual(canActAs(id("state", true), "workmanager"), { ok: true }));
  it("refuses another service", () =>
    denied(canActAs(id("workmanager"), "websocketmanager"), /service must match identity/, /caller is "workmanager" but the request names service "websocketmanager"/));
});

describe("state access", () => {
  const rows: ReadonlyArray<readonly [name: string, caller: Identity, target: string, write: boolean, read: boolean]> = [
    ["own state", id("workmanager"), "workmanager", true, true],
    ["a token for service A writing service B's state", id("workmanager"), "websocketmanager", false, false],
    ["granted read of one service", id("dashboard"), "workmanager", false, true],
    ["granted read does not extend to others", id("dashboard"), "feeder", false, false],
    ["stateRead * reads every service", id("websocketmanager"), "feeder", false, true],
    ["admin identity", id("feeder", true), "workmanager", true, true],
  ];
  for (const [name, caller, target, write, read] of rows) {
    it(`${name}: write ${write}, read ${read}`, () => {
      const w = canWriteState(caller, target);
      const r = canReadState(caller, permissionsOf(TABLE, caller), target);
      assert.equal(w.ok, write);
      assert.equal(r.ok, read);
      if (!w.ok) assert.match(w.message, new RegExp(`"${caller.service}" may not write the state of "${target}"`));
      if (!r.ok) denied(r, /stateRead/, /grant it with stateRead/);
    });
  }
});

describe("canSeeEvent", () => {
  const dashboard = permissionsFor(TABLE, "dashboard");
  const worker = permissionsFor(TABLE, "workmanager");
  const ws = permissionsFor(TABLE, "websocketmanager");
  const rows: ReadonlyArray<readonly [name: string, perms: ServicePermissions, event: { service: string; topic: string; eventType: string }, visible: boolean]> = [
    ["allowed topic", dashboard, { service: "feeder", topic: "md.x.y", eventType: "pubsub" }, true],
    ["topic outside subscribe allow", dashboard, { service: "workmanager", topic: "workmanager.status", eventType: "pubsub" }, false],
    ["denied topic", dashboard, { service: "feeder", topic: "md.secret.y", eventType: "pubsub" }, false],
    ["own state change", worker, { service: "workmanager", topic: "state-changes", eventType: "state" }, true],
    ["another service's state change, not granted", worker, { service: "websocketmanager", topic: "state-changes", eventType: "state" }, false],
    ["another service's state change, granted", dashboard, { service: "workmanager", topic: "state-changes", eventType: "state" }, true],
    ["state change of a service not granted", dashboard, { service: "feeder", topic: "state-changes", eventType: "state" }, false],
    ["stateRead * sees every state change", ws, { service: "feeder", topic: "state-changes", eventType: "state" }, true],
    ["admin sees every state change", permissionsFor(TABLE, "state"), { service: "feeder", topic: "state-changes", eventType: "state" }, true],
    ["system event on a status topic follows the topic rule", worker, { service: "feeder", topic: "feeder.status", eventType: "system" }, true],
    ["system event on a status topic not allowed", dashboard, { service: "feeder", topic: "feeder.status", eventType: "system" }, false],
    ["system event on own status topic", dashboard, { service: "dashboard", topic: "dashboard.status", eventType: "system" }, true],
  ];
  for (const [name, perms, event, visible] of rows) {
    it(`${name}: ${visible ? "visible" : "hidden"}`, () => assert.equal(canSeeEvent(perms, event), visible));
  }
});

describe("checkSubscribeFilter", () => {
  const filter = (f: Partial<{ services: string[]; topics: string[]; eventTypes: string[] }>): FilterRequest => ({
    services: f.services ?? [],
    topics: f.topics ?? [],
    eventTypes: f.eventTypes ?? [],
  });
  const dashboard = permissionsFor(TABLE, "dashboard");
  const worker = permissionsFor(TABLE, "workmanager");
  const ok: ReadonlyArray<readonly [string, ServicePermissions, FilterRequest]> = [
    ["empty (global) filter with the default allow >", worker, filter({})],
    ["a named allowed topic", dashboard, filter({ topics: ["md.a.b"] })],
    ["own state changes", worker, filter({ topics: ["state-changes"], services: ["workmanager"] })],
    ["granted state changes", dashboard, filter({ topics: ["state-changes"], services: ["workmanager"] })],
    ["state events of every service it may read (no services named)", dashboard, filter({ topics: ["state-changes"] })],
    ["a wildcard topic covered by an allow", dashboard, filter({ topics: ["md.*.x"] })],
    ["a wildcard topic partly denied (denied part filtered later)", dashboard, filter({ topics: ["md.>"] })],
    ["sets as well as arrays", dashboard, { services: new Set<string>(), topics: new Set(["md.a.b"]), eventTypes: new Set<string>() }],
    ["open mode", openPermissions("x"), filter({ topics: ["state-changes"], services: ["feeder"] })],
  ];
  for (const [name, perms, f] of ok) {
    it(`accepts ${name}`, () => assert.deepEqual(checkSubscribeFilter(perms, f), { ok: true }));
  }
  const refused: ReadonlyArray<readonly [string, ServicePermissions, FilterRequest, RegExp, RegExp]> = [
    ["an empty (global) filter without allow >", dashboard, filter({}), /every topic needs allow ">"/, /name the topics/],
    ["services only, without allow >", dashboard, filter({ services: ["feeder"] }), /every topic needs allow ">"/, /"dashboard" may subscribe only to "md.>", "state-changes", "dashboard.\*"/],
    ["a topic no allow matches", dashboard, filter({ topics: ["workmanager.status"] }), /^subscribe no allow pattern matches$/, /"dashboard" may not subscribe to "workmanager.status"/],
    ["a denied topic (deny wins)", dashboard, filter({ topics: ["md.secret.x"] }), /^subscribe deny "md.secret.\*"$/, /subscribe deny "md.secret.\*"/],
    ["one bad topic among good ones", dashboard, filter({ topics: ["md.a.b", "sc.LIVE.x.y"] }), /no allow pattern matches/, /"sc.LIVE.x.y"/],
    ["a wildcard topic wider than the grant", dashboard, filter({ topics: [">"] }), /no allow pattern covers it/, /">"/],
    ["a wildcard topic entirely denied", dashboard, filter({ topics: ["md.secret.*"] }), /subscribe deny "md.secret.\*"/, /may not subscribe/],
    ["a malformed wildcard topic", worker, filter({ topics: ["a.>.b"] }), /topic pattern/, /malformed/],
    ["another service's state changes, not granted", worker, filter({ topics: ["state-changes"], services: ["websocketmanager"] }), /stateRead/, /may not see state changes of "websocketmanager"/],
    ["state events of a service not granted", dashboard, filter({ topics: ["state-changes"], eventTypes: ["state"], services: ["workmanager", "feeder"] }), /stateRead/, /"feeder"/],
    ["state event type only, service not granted", worker, filter({ eventTypes: ["state"], services: ["feeder"] }), /stateRead/, /"feeder"/],
  ];
  for (const [name, perms, f, rule, message] of refused) {
    it(`refuses ${name}`, () => denied(checkSubscribeFilter(perms, f), rule, message));
  }
});
