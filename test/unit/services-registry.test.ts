import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createServiceRegistry,
  GATEWAY_SERVICE,
  loadServicesFile,
  ServicesFileError,
  type RegistryDefaults,
} from "../../src/services/registry.js";

const SHIPPED = fileURLToPath(new URL("../../config/services.json", import.meta.url));
const DEFAULTS: RegistryDefaults = { pubsubName: "pubsub", stateStoreName: "statestore" };

function rejects(data: unknown, ...patterns: RegExp[]): void {
  assert.throws(
    () => createServiceRegistry(data, DEFAULTS),
    (e: unknown) => {
      assert.ok(e instanceof ServicesFileError, `expected ServicesFileError, got ${String(e)}`);
      assert.equal(e.name, "ServicesFileError");
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

describe("the shipped services.json", () => {
  const registry = loadServicesFile(SHIPPED, DEFAULTS);

  it("holds workmanager, websocketmanager, state and the gateway", () => {
    assert.deepEqual(
      registry.all.map((s) => s.name).sort(),
      ["state", "virtufin-api", "websocketmanager", "workmanager"],
    );
    assert.equal(GATEWAY_SERVICE, "virtufin-api");
  });

  it("gives workmanager its status topic and the default components", () => {
    assert.deepEqual(registry.get("workmanager"), {
      name: "workmanager",
      pubsubName: "pubsub",
      stateStoreName: "statestore",
      topics: ["workmanager.workerstatus"],
      statusTopic: "workmanager.workerstatus",
    });
    assert.equal(registry.get("websocketmanager")?.statusTopic, "websocketmanager.connectionstatus");
    assert.equal(registry.get("state")?.statusTopic, "state.status");
  });

  it("has a reserved gateway entry owning state-changes and the scenario registry topic", () => {
    const gw = registry.get(GATEWAY_SERVICE);
    assert.deepEqual(gw?.topics, ["state-changes", "virtufin-api.scenarios"]);
    assert.equal(gw?.statusTopic, "virtufin-api.status");
    assert.equal(gw?.pubsubName, "pubsub");
  });

  it("knows nothing of unlisted services", () => {
    assert.equal(registry.get("nope"), undefined);
    assert.equal(registry.get(""), undefined);
    assert.equal(registry.get("WorkManager"), undefined);
  });

  it("reports a missing or unreadable file as a ServicesFileError naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "virtufin-services-test-"));
    try {
      const missing = join(dir, "missing.json");
      assert.throws(() => loadServicesFile(missing, DEFAULTS), (e: unknown) => e instanceof ServicesFileError && e.message.includes(missing));
      const broken = join(dir, "broken.json");
      writeFileSync(broken, "{ services: ");
      assert.throws(() => loadServicesFile(broken, DEFAULTS), (e: unknown) => e instanceof ServicesFileError && e.message.includes(broken));
      const badEntry = join(dir, "bad.json");
      writeFileSync(badEntry, JSON.stringify({ services: [{ name: "Bad" }] }));
      assert.throws(
        () => loadServicesFile(badEntry, DEFAULTS),
        (e: unknown) => e instanceof ServicesFileError && e.message.startsWith(`${badEntry}:`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("createServiceRegistry", () => {
  it("uses defaults and per-service overrides", () => {
    const r = createServiceRegistry(
      { services: [{ name: "a" }, { name: "b", pubsubName: "nats", stateStoreName: "redis.v2", topics: ["b.x", "md.feed"], statusTopic: "b.health" }] },
      DEFAULTS,
    );
    assert.deepEqual(r.get("a"), { name: "a", pubsubName: "pubsub", stateStoreName: "statestore", topics: [], statusTopic: "a.status" });
    assert.deepEqual(r.get("b"), { name: "b", pubsubName: "nats", stateStoreName: "redis.v2", topics: ["b.x", "md.feed"], statusTopic: "b.health" });
  });

  it("accepts an empty list (the gateway alone)", () => {
    assert.deepEqual(createServiceRegistry({ services: [] }, DEFAULTS).all.map((s) => s.name), [GATEWAY_SERVICE]);
  });

  const invalid: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ["null document", null, /expected \{"services": \[ \.\.\. \]\}/],
    ["missing services array", {}, /expected \{"services"/],
    ["services is an object", { services: { a: {} } }, /expected \{"services"/],
    ["document is an array", [{ name: "a" }], /expected \{"services"/],
    ["entry is not an object", { services: ["a"] }, /services\[0\] is not an object/],
    ["entry is null", { services: [null] }, /services\[0\] is not an object/],
    ["missing name", { services: [{}] }, /services\[0\]\.name must match/],
    ["upper-case name", { services: [{ name: "WorkManager" }] }, /services\[0\]\.name must match/],
    ["name with a dot", { services: [{ name: "a.b" }] }, /name must match/],
    ["name with a leading dash", { services: [{ name: "-a" }] }, /name must match/],
    ["name of 64 characters", { services: [{ name: "a".repeat(64) }] }, /name must match/],
    ["numeric name", { services: [{ name: 7 }] }, /name must match/],
    ["duplicate name", { services: [{ name: "a" }, { name: "b" }, { name: "a" }] }, /service "a" is listed twice or is reserved/],
    ["reserved name", { services: [{ name: "virtufin-api" }] }, /service "virtufin-api" is listed twice or is reserved/],
    ["invalid topic", { services: [{ name: "a", topics: ["a..b"] }] }, /services\[0\]: topic "a\.\.b" has an empty token/],
    ["wildcard topic", { services: [{ name: "a", topics: ["a.*"] }] }, /services\[0\]: topic token "\*"/],
    ["upper-case topic", { services: [{ name: "a", topics: ["A.b"] }] }, /services\[0\]:/],
    ["topics not a list", { services: [{ name: "a", topics: "a.b" }] }, /services\[0\]\.topics must be a list of topic names/],
    ["topics with a number", { services: [{ name: "a", topics: [1] }] }, /topics must be a list/],
    ["invalid status topic", { services: [{ name: "a", statusTopic: "a status" }] }, /services\[0\]:/],
    ["empty status topic", { services: [{ name: "a", statusTopic: "" }] }, /topic is empty/],
    ["bad pubsub component", { services: [{ name: "a", pubsubName: "pub sub" }] }, /services\[0\]\.pubsubName is not a component name/],
    ["numeric state store", { services: [{ name: "a", stateStoreName: 3 }] }, /services\[0\]\.stateStoreName is not a component name/],
    ["second entry is bad", { services: [{ name: "a" }, { name: "b", topics: ["$x"] }] }, /services\[1\]/],
  ];
  for (const [name, data, message] of invalid) {
    it(`rejects ${name}`, () => rejects(data, message));
  }

  // A statusTopic that is not a string must be a ServicesFileError like every other mistake.
  const nonStringStatus: ReadonlyArray<readonly [string, unknown]> = [
    ["a number", 42],
    ["a list", ["a.b"]],
    ["an object", { topic: "a.b" }],
    ["a boolean", true],
  ];
  for (const [name, statusTopic] of nonStringStatus) {
    it(`rejects a statusTopic that is ${name} with a ServicesFileError`, () => {
      rejects({ services: [{ name: "a", statusTopic }] }, /services\[0\]/, /statusTopic|topic/);
    });
  }

  it("names the origin in its messages", () => {
    assert.throws(() => createServiceRegistry({}, DEFAULTS, "/etc/virtufin/services.json"), /^ServicesFileError: \/etc\/virtufin\/services\.json: /);
  });
});

describe("ownerOf", () => {
  const registry = createServiceRegistry(
    {
      services: [
        { name: "workmanager", topics: ["workmanager.workerstatus", "md.src.ticks"] },
        { name: "state", topics: ["state.status"] },
        { name: "md" },
      ],
    },
    DEFAULTS,
  );
  const table: ReadonlyArray<readonly [string, string]> = [
    ["workmanager.workerstatus", "workmanager"], // listed
    ["md.src.ticks", "workmanager"], // listed wins over the first token naming "md"
    ["workmanager.other", "workmanager"], // first token
    ["workmanager", "workmanager"], // single token naming the service
    ["state.status", "state"],
    ["state.anything.else", "state"],
    ["md.other.feed", "md"],
    ["state-changes", GATEWAY_SERVICE], // the gateway's own topic
    ["sc.LIVE.orders", GATEWAY_SERVICE], // nobody named "sc"
    ["unknown.topic", GATEWAY_SERVICE],
    ["virtufin-api.status", GATEWAY_SERVICE],
    ["workmanagerx.status", GATEWAY_SERVICE], // token, not prefix
  ];
  for (const [topic, owner] of table) {
    it(`${topic} -> ${owner}`, () => {
      assert.equal(registry.ownerOf(topic).name, owner);
    });
  }
});
