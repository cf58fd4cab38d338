import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Identity } from "../../src/auth/identity.js";
import { openPermissions, parsePermissions, permissionsFor, type ServicePermissions } from "../../src/auth/permissions.js";
import {
  decidePublish,
  DEFAULT_NAMESPACES,
  namespaceOf,
  NamespacesConfigError,
  parseNamespaces,
  type Namespace,
  type PublishDecision,
} from "../../src/topics/namespaces.js";

const KNOWN = ["workmanager", "websocketmanager", "feeder", "simulator", "state"];
const TABLE = parsePermissions(
  {
    services: {
      feeder: { publish: { allow: ["{self}.*", "md.>"], deny: ["md.internal.>"] } },
      simulator: { publish: { allow: ["{self}.*", "sc.>"], deny: ["sc.*.secret.>", "simulator.debug"] } },
      state: { admin: true },
    },
  },
  KNOWN,
);
const ACTIVE = new Set(["run-1", "q4-stress"]);
const isScenarioActive = (id: string): boolean => ACTIVE.has(id);

const token = (service: string, admin = false): Identity => ({ service, admin, via: "token" });

interface Row {
  readonly name: string;
  readonly caller: Identity;
  readonly service?: string;
  readonly topic: string;
  readonly permissions?: ServicePermissions;
  readonly namespaces?: readonly Namespace[];
  readonly expect: PublishDecision | { readonly code: string; readonly rule: RegExp; readonly message: RegExp };
}

function decide(row: Row): PublishDecision {
  const service = row.service ?? row.caller.service;
  return decidePublish({
    identity: row.caller,
    service,
    topic: row.topic,
    namespaces: row.namespaces ?? DEFAULT_NAMESPACES,
    permissions: row.permissions ?? permissionsFor(TABLE, service),
    isScenarioActive,
  });
}

function check(row: Row): void {
  const got = decide(row);
  if ("ok" in row.expect) {
    assert.deepEqual(got, row.expect);
    return;
  }
  assert.equal(got.ok, false, `expected a refusal, got ${JSON.stringify(got)}`);
  if (got.ok) return;
  assert.equal(got.code, row.expect.code);
  assert.match(got.rule, row.expect.rule);
  assert.match(got.message, row.expect.message);
}

describe("DEFAULT_NAMESPACES", () => {
  it("are the namespaces of CONTRACT.md", () => {
    assert.deepEqual(
      DEFAULT_NAMESPACES.map((n) => [n.name, n.pattern, n.publishers, n.scenarioToken]),
      [
        ["lifecycle", "{self}.*", "self", undefined],
        ["state-changes", "state-changes", "gateway", undefined],
        ["market-data", "md.*.>", "granted", undefined],
        ["scenario", "sc.*.*.>", "granted", 1],
      ],
    );
  });
  it("parse as valid config", () => assert.deepEqual(parseNamespaces(DEFAULT_NAMESPACES), DEFAULT_NAMESPACES));
  it("do not overlap", () => {
    const topics = ["a.b", "state-changes", "md.a.b", "md.a.b.c", "sc.x.y.z", "sc.LIVE.y.z.w", "md.x", "sc.x.y"];
    for (const t of topics) {
      const matching = DEFAULT_NAMESPACES.filter((n) => namespaceOf([n], t) !== undefined);
      assert.ok(matching.length <= 1, `${t} is in ${matching.map((n) => n.name).join(", ")}`);
    }
  });
  const membership: ReadonlyArray<readonly [string, string | undefined]> = [
    ["workmanager.status", "lifecycle"],
    ["md.x", "lifecycle"],
    ["state-changes", "state-changes"],
    ["md.src.x", "market-data"],
    ["sc.run-1.orders.new", "scenario"],
    ["sc.run-1.orders", undefined],
    ["workmanager", undefined],
    ["workmanager.a.b", undefined],
  ];
  for (const [topic, ns] of membership) {
    it(`${topic} is in ${ns ?? "no namespace"}`, () => assert.equal(namespaceOf(DEFAULT_NAMESPACES, topic)?.name, ns));
  }
});

describe("parseNamespaces", () => {
  it("accepts {namespaces: [...]} as well as a list", () => {
    const ns = [{ name: "events", pattern: "ev.>", publishers: "granted" }];
    assert.deepEqual(parseNamespaces({ namespaces: ns }), ns);
    assert.deepEqual(parseNamespaces(ns), ns);
  });

  const entry = { name: "x", pattern: "x.>", publishers: "granted" };
  const bad: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ["not a list", { name: "x" }, /expected a list/],
    ["an empty list", [], /the list is empty/],
    ["an entry that is not an object", ["x.>"], /\[0\] is not an object/],
    ["an unknown field", [{ ...entry, publisher: "self" }], /\[0\]: unknown field "publisher"/],
    ["a bad name", [{ ...entry, name: "Market Data" }], /\[0\]\.name must match/],
    ["a duplicate name", [entry, entry], /namespace "x" is listed twice/],
    ["a missing pattern", [{ name: "x", publishers: "granted" }], /namespace "x": pattern must be a string/],
    ["a malformed pattern", [{ ...entry, pattern: "x..>" }], /namespace "x": .*empty token/],
    ["> not last", [{ ...entry, pattern: ">.x" }], /namespace "x": .*last token/],
    ["unknown publishers", [{ ...entry, publishers: "anyone" }], /namespace "x": publishers must be one of self, gateway, granted/],
    ["self without {self}", [{ ...entry, publishers: "self" }], /needs exactly one \{self\} token/],
    ["self with two {self}", [{ ...entry, pattern: "{self}.{self}", publishers: "self" }], /needs exactly one \{self\} token/],
    ["{self} in a granted namespace", [{ ...entry, pattern: "{self}.>" }], /\{self\} is only meaningful with publishers "self"/],
    ["scenarioToken out of range", [{ ...entry, pattern: "sc.*.>", scenarioToken: 3 }], /scenarioToken must be the index/],
    ["scenarioToken not an integer", [{ ...entry, pattern: "sc.*.>", scenarioToken: 1.5 }], /scenarioToken must be the index/],
    ["scenarioToken on a literal token", [{ ...entry, pattern: "sc.*.>", scenarioToken: 0 }], /scenario id token \(index 0\) must be "\*"/],
    ["an empty description", [{ ...entry, description: "" }], /description must be a non-empty string/],
  ];
  for (const [name, raw, re] of bad) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => parseNamespaces(raw),
        (e: unknown) => e instanceof NamespacesConfigError && e.name === "NamespacesConfigError" && re.test(e.message),
      );
    });
  }
});

describe("decidePublish", () => {
  const wm = token("workmanager");
  const feeder = token("feeder");
  const sim = token("simulator");
  const grammar = (name: string, topic: string, message: RegExp): Row => ({
    name: `bad input: ${name}`,
    caller: wm,
    topic,
    expect: { code: "invalid_argument", rule: /^topic grammar$/, message },
  });

  const rows: readonly Row[] = [
    // topic grammar (every "Bad input" row of the issue)
    grammar("empty topic", "", /topic is empty/),
    grammar("leading empty token", ".status", /empty token/),
    grammar("trailing empty token", "workmanager.", /empty token/),
    grammar("`..`", "workmanager..status", /empty token/),
    grammar("wildcard * in a publish", "workmanager.*", /"\*"/),
    grammar("wildcard > in a publish", "md.src.>", /">"/),
    grammar("upper case outside LIVE", "workmanager.Status", /"Status"/),
    grammar("LIVE outside the scenario token", "workmanager.LIVE", /"LIVE"/),
    grammar("over 255 characters", `md.src.${"x".repeat(250)}`, /257 characters long; the limit is 255/),
    grammar("leading $ (NATS system subject)", "$SYS.x", /"\$SYS"/),
    grammar("_INBOX", "_INBOX.x", /"_INBOX"/),
    grammar("space", "workmanager.a b", /"a b"/),

    // acting as another service
    {
      name: "a token for service A publishing as service B",
      caller: wm,
      service: "websocketmanager",
      topic: "websocketmanager.status",
      expect: { code: "permission_denied", rule: /service must match identity/, message: /caller is "workmanager" but the request names service "websocketmanager"/ },
    },
    { name: "an admin publishing as another service", caller: token("state", true), service: "workmanager", topic: "workmanager.status", expect: { ok: true, namespace: "lifecycle" } },

    // outside every namespace
    {
      name: "a three-token service topic",
      caller: wm,
      topic: "workmanager.a.b",
      expect: {
        code: "permission_denied",
        rule: /^outside every namespace$/,
        message: /^topic "workmanager\.a\.b" is outside every namespace \(lifecycle <service>\.<category>, md\.<source>\.…, sc\.<scenarioId>\.<domain>\.…\)$/,
      },
    },
    { name: "a single token", caller: wm, topic: "workmanager", expect: { code: "permission_denied", rule: /outside every namespace/, message: /outside every namespace/ } },
    { name: "a scenario topic without a domain", caller: sim, topic: "sc.run-1.orders", expect: { code: "permission_denied", rule: /outside every namespace/, message: /"sc\.run-1\.orders"/ } },

    // lifecycle
    { name: "own lifecycle topic", caller: wm, topic: "workmanager.status", expect: { ok: true, namespace: "lifecycle" } },
    {
      name: "another service's lifecycle topic",
      caller: wm,
      topic: "websocketmanager.status",
      expect: { code: "permission_denied", rule: /namespace "lifecycle": publisher is the service the topic names/, message: /topic of service "websocketmanager".*publishes as "workmanager"/ },
    },
    {
      name: "another service's lifecycle topic, even with publish allow >",
      caller: wm,
      topic: "websocketmanager.status",
      permissions: { ...permissionsFor(TABLE, "workmanager"), publish: { allow: [">"], deny: [] } },
      expect: { code: "permission_denied", rule: /namespace "lifecycle"/, message: /only that service publishes there/ },
    },
    {
      name: "own lifecycle topic denied by the publish rules (deny wins)",
      caller: sim,
      topic: "simulator.debug",
      expect: { code: "permission_denied", rule: /^publish deny "simulator\.debug"$/, message: /"simulator" may not publish on "simulator\.debug": publish deny "simulator\.debug"/ },
    },
    {
      name: "own lifecycle topic when the publish allow list replaced the default",
      caller: wm,
      topic: "workmanager.status",
      permissions: { ...permissionsFor(TABLE, "workmanager"), publish: { allow: ["md.>"], deny: [] } },
      expect: { code: "permission_denied", rule: /^publish no allow pattern matches$/, message: /may not publish on "workmanager\.status"/ },
    },

    // state-changes
    {
      name: "state-changes from a service",
      caller: wm,
      topic: "state-changes",
      expect: { code: "permission_denied", rule: /namespace "state-changes": gateway only/, message: /only the gateway publishes on "state-changes"/ },
    },
    {
      name: "state-changes from an admin",
      caller: token("state", true),
      topic: "state-changes",
      expect: { code: "permission_denied", rule: /gateway only/, message: /only the gateway/ },
    },
    {
      name: "state-changes in open mode",
      caller: { service: "workmanager", admin: true, via: "open" },
      topic: "state-changes",
      permissions: openPermissions("workmanager"),
      expect: { code: "permission_denied", rule: /gateway only/, message: /only the gateway/ },
    },

    // market data
    { name: "market data by a granted service", caller: feeder, topic: "md.binance.btc.usd", expect: { ok: true, namespace: "market-data" } },
    {
      name: "market data by a service not granted it",
      caller: wm,
      topic: "md.binance.btc",
      expect: {
        code: "permission_denied",
        rule: /^publish no allow pattern matches$/,
        message: /"workmanager" may not publish on "md\.binance\.btc": publish no allow pattern matches; namespace "market-data" \(md\.<source>\.…\) is open only to services granted it/,
      },
    },
    {
      name: "market data denied to a granted service (deny wins)",
      caller: feeder,
      topic: "md.internal.x",
      expect: { code: "permission_denied", rule: /^publish deny "md\.internal\.>"$/, message: /publish deny "md\.internal\.>"/ },
    },
    { name: "market data in open mode", caller: { service: "workmanager", admin: true, via: "open" }, topic: "md.a.b", permissions: openPermissions("workmanager"), expect: { ok: true, namespace: "market-data" } },

    // scenario lane
    { name: "an active scenario", caller: sim, topic: "sc.run-1.orders.new", expect: { ok: true, namespace: "scenario", scenarioId: "run-1" } },
    { name: "LIVE, always active", caller: sim, topic: "sc.LIVE.orders.new", expect: { ok: true, namespace: "scenario", scenarioId: "LIVE" } },
    {
      name: "a scenario that is not active",
      caller: sim,
      topic: "sc.paused-1.orders.new",
      expect: { code: "failed_precondition", rule: /^scenario must be active$/, message: /scenario "paused-1" is not active/ },
    },
    {
      name: "a scenario id that is not one",
      caller: sim,
      topic: "sc._x.orders.new",
      expect: { code: "invalid_argument", rule: /scenario id grammar/, message: /"sc\._x\.orders\.new" does not name a scenario: scenario_id "_x" must start with/ },
    },
    {
      name: "a scenario id over 63 characters",
      caller: sim,
      topic: `sc.${"a".repeat(64)}.orders.new`,
      expect: { code: "invalid_argument", rule: /scenario id grammar/, message: /64 characters long; the limit is 63/ },
    },
    {
      name: "the scenario lane by a service not granted it (checked before the scenario)",
      caller: wm,
      topic: "sc.paused-1.orders.new",
      expect: { code: "permission_denied", rule: /no allow pattern matches/, message: /namespace "scenario" .* is open only to services granted it/ },
    },
    {
      name: "the scenario lane denied to a granted service",
      caller: sim,
      topic: "sc.run-1.secret.x",
      expect: { code: "permission_denied", rule: /^publish deny "sc\.\*\.secret\.>"$/, message: /publish deny/ },
    },

    // namespaces are configuration
    {
      name: "a configured namespace replaces the defaults",
      caller: wm,
      topic: "md.a.b",
      namespaces: parseNamespaces([{ name: "events", pattern: "ev.>", publishers: "granted", description: "ev.…" }]),
      expect: { code: "permission_denied", rule: /outside every namespace/, message: /outside every namespace \(ev\.…\)$/ },
    },
    {
      name: "a configured granted namespace",
      caller: wm,
      topic: "ev.x",
      namespaces: parseNamespaces([{ name: "events", pattern: "ev.>", publishers: "granted" }]),
      permissions: { ...permissionsFor(TABLE, "workmanager"), publish: { allow: ["ev.>"], deny: [] } },
      expect: { ok: true, namespace: "events" },
    },
    {
      name: "a configured self namespace with {self} in second place",
      caller: wm,
      topic: "svc.websocketmanager.status",
      namespaces: parseNamespaces([{ name: "svc", pattern: "svc.{self}.*", publishers: "self" }]),
      permissions: { ...permissionsFor(TABLE, "workmanager"), publish: { allow: [">"], deny: [] } },
      expect: { code: "permission_denied", rule: /namespace "svc"/, message: /topic of service "websocketmanager"/ },
    },
    {
      name: "a configured scenario lane at another index",
      caller: wm,
      topic: "what-if.q4-stress.x",
      namespaces: parseNamespaces([{ name: "what-if", pattern: "what-if.*.>", publishers: "granted", scenarioToken: 1 }]),
      permissions: { ...permissionsFor(TABLE, "workmanager"), publish: { allow: ["what-if.>"], deny: [] } },
      expect: { ok: true, namespace: "what-if", scenarioId: "q4-stress" },
    },
  ];

  for (const row of rows) it(row.name, () => check(row));

  it("asks about the scenario only after the caller is allowed", () => {
    const asked: string[] = [];
    const base = { namespaces: DEFAULT_NAMESPACES, isScenarioActive: (id: string) => (asked.push(id), true) };
    decidePublish({ ...base, identity: wm, service: "workmanager", topic: "sc.run-1.a.b", permissions: permissionsFor(TABLE, "workmanager") });
    decidePublish({ ...base, identity: sim, service: "simulator", topic: "sc.LIVE.a.b", permissions: permissionsFor(TABLE, "simulator") });
    assert.deepEqual(asked, []);
    decidePublish({ ...base, identity: sim, service: "simulator", topic: "sc.run-1.a.b", permissions: permissionsFor(TABLE, "simulator") });
    assert.deepEqual(asked, ["run-1"]);
  });
});
