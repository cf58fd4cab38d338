/**
 * The backend contract: the same tests run against every DaprAdapter (embedded, and the Dapr
 * sidecar over Redis or NATS JetStream). Each run uses its own service names, keys and topics,
 * so it can share a real Redis or NATS with other runs.
 */
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { Gateway } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import type { App, AppOverrides } from "../../src/app.js";
import { createServiceRegistry } from "../../src/services/registry.js";
import { decodeJson, openStream, runId, type OpenStream } from "../support/gateway.js";

export interface ContractHarness {
  readonly app: App;
  readonly transport: Transport;
  stop(): Promise<void>;
}

export type ContractSetup = (overrides: AppOverrides) => Promise<ContractHarness>;

async function codeOf(p: Promise<unknown>): Promise<Code> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e).code;
  }
  assert.fail("expected the call to fail");
}

/** Reads events until `count` arrived or the stream stayed quiet for `quietMs`. */
async function collect(stream: OpenStream<StreamEvent>, count: number, quietMs = 1000): Promise<StreamEvent[]> {
  const got: StreamEvent[] = [];
  while (got.length < count) {
    try {
      const ev = await stream.next(quietMs);
      if (ev === undefined) break;
      got.push(ev);
    } catch {
      break;
    }
  }
  return got;
}

export function runContractSuite(backendName: string, setup: ContractSetup): void {
  describe(`backend contract: ${backendName}`, () => {
    const run = runId();
    const svcA = `a-${run}`;
    const svcB = `b-${run}`;
    let h: ContractHarness;
    let state: Client<typeof State>;
    let pubsub: Client<typeof Pubsub>;

    before(async () => {
      const registry = createServiceRegistry(
        {
          services: [
            { name: svcA, topics: [`${svcA}.status`], statusTopic: `${svcA}.status` },
            { name: svcB, topics: [`${svcB}.status`] },
          ],
        },
        { pubsubName: "pubsub", stateStoreName: "statestore" },
      );
      h = await setup({ registry });
      state = createClient(State, h.transport);
      pubsub = createClient(Pubsub, h.transport);
    });
    after(async () => {
      await h.stop();
    });

    const subscribe = (request: { services?: string[]; topics?: string[]; eventTypes?: string[] }) =>
      openStream(h.transport, Gateway.method.subscribe, request, h.app);

    describe("state values and ETags", () => {
      const values: Array<[string, string]> = [
        ["empty", ""],
        ["text", "hello world"],
        ["json", '{ "a": 1 }'],
        ["quoted", '"quoted"'],
        ["number", "123"],
        ["true", "true"],
        ["null", "null"],
        ["emoji", "⏱️ 🚀 ünïcödé"],
        ["1MiB", "x".repeat(1024 * 1024)],
      ];
      for (const [name, value] of values) {
        it(`round-trips the ${name} value byte for byte`, async () => {
          const key = `fidelity-${name}`;
          await state.saveState({ service: svcA, key, value });
          const got = await state.getState({ service: svcA, key });
          assert.equal(got.found, true);
          assert.equal(Buffer.compare(Buffer.from(got.value, "utf8"), Buffer.from(value, "utf8")), 0);
          assert.notEqual(got.etag, "");
        });
      }

      it("reads a never-set key as not found, without an error", async () => {
        const got = await state.getState({ service: svcA, key: "never-set" });
        assert.deepEqual([got.found, got.value, got.etag, got.key], [false, "", "", "never-set"]);
      });

      it("is first-write-wins with an ETag and last-write-wins without", async () => {
        const key = "cas";
        // Subscribe first: with a real broker an event is still in flight after its call returns.
        const events = await subscribe({ services: [svcA], eventTypes: ["state"] });
        try {
          await state.saveState({ service: svcA, key, value: "v1" });
          const e1 = (await state.getState({ service: svcA, key })).etag;
          assert.equal(await codeOf(state.saveState({ service: svcA, key, value: "v2", etag: "9999999" })), Code.Aborted);
          const unchanged = await state.getState({ service: svcA, key });
          assert.deepEqual([unchanged.value, unchanged.etag], ["v1", e1]);

          await state.saveState({ service: svcA, key, value: "v2", etag: e1 });
          const after2 = await state.getState({ service: svcA, key });
          assert.equal(after2.value, "v2");
          assert.notEqual(after2.etag, e1);
          // The stale ETag now loses.
          assert.equal(await codeOf(state.saveState({ service: svcA, key, value: "v3", etag: e1 })), Code.Aborted);

          assert.equal(await codeOf(state.deleteState({ service: svcA, key, etag: "9999999" })), Code.Aborted);
          assert.equal((await state.getState({ service: svcA, key })).value, "v2");
          assert.equal(await codeOf(state.saveState({ service: svcA, key, value: "v", etag: "not-a-number" })), Code.InvalidArgument);

          await state.deleteState({ service: svcA, key, etag: after2.etag });
          assert.equal((await state.getState({ service: svcA, key })).found, false);

          await state.saveState({ service: svcA, key, value: "lww1" });
          await state.saveState({ service: svcA, key, value: "lww2", etag: "" });
          assert.equal((await state.getState({ service: svcA, key })).value, "lww2");

          // Exactly one event per successful mutation: save v1, save v2, delete, save lww1, save lww2.
          const got = await collect(events, 10, 1000);
          assert.deepEqual(
            got.map((e) => (decodeJson(e.data) as { action: string }).action),
            ["save", "save", "delete", "save", "save"],
          );
        } finally {
          events.close();
        }
      });

      it("loses no update under contention (GetState + SaveState with ETag, retry on ABORTED)", async () => {
        const key = "counter";
        await state.saveState({ service: svcA, key, value: "0" });
        let aborted = 0;
        let saved = 0;
        const worker = async (increments: number) => {
          for (let i = 0; i < increments; ) {
            const cur = await state.getState({ service: svcA, key });
            try {
              await state.saveState({ service: svcA, key, value: String(Number(cur.value) + 1), etag: cur.etag });
              saved++;
              i++;
            } catch (e) {
              assert.equal(ConnectError.from(e).code, Code.Aborted);
              aborted++;
            }
          }
        };
        await Promise.all(Array.from({ length: 8 }, () => worker(25)));
        assert.equal(Number((await state.getState({ service: svcA, key })).value), saved);
        assert.equal(saved, 200);
        assert.ok(aborted > 0, "the workers really contended");
      });
    });

    describe("key index", () => {
      it("GetAllState returns all 50 keys saved concurrently", async () => {
        const keys = Array.from({ length: 50 }, (_, i) => `bulk-${i}`);
        await Promise.all(keys.map((key) => state.saveState({ service: svcB, key, value: `value-${key}` })));
        const all = await state.getAllState({ service: svcB });
        for (const key of keys) assert.equal(all.values[key], `value-${key}`, key);
        assert.equal(Object.keys(all.values).filter((k) => k.startsWith("bulk-")).length, 50);
        for (const key of keys) assert.notEqual(all.etags[key] ?? "", "");
      });

      it("lists registered keys that have values, never phantoms, and forgets deleted ones", async () => {
        const service = svcA;
        await state.saveState({ service, key: "reg-1", value: "one" });
        await state.registerKeys({ service, keys: ["reg-1", "reg-2-never-set"] });
        await state.saveState({ service, key: "gone", value: "x" });
        await state.deleteState({ service, key: "gone" });
        const all = await state.getAllState({ service });
        assert.equal(all.values["reg-1"], "one");
        assert.equal("reg-2-never-set" in all.values, false);
        assert.equal("gone" in all.values, false);
      });
    });

    describe("state change events", () => {
      it("a subscriber filtered by the service receives exactly one state event per save, with the value only when asked", async () => {
        const events = await subscribe({ services: [svcB] });
        try {
          await state.saveState({ service: svcB, key: "evt-1", value: "secret", includeValue: false });
          await state.saveState({ service: svcB, key: "evt-2", value: "shown", includeValue: true });
          await state.saveState({ service: svcA, key: "evt-other", value: "other service" });
          await state.deleteState({ service: svcB, key: "evt-2", includeValue: true });
          await state.deleteState({ service: svcB, key: "evt-never-set" });
          // On Dapr, state events of earlier tests' saves of this service may still be on their
          // way through the broker (saves return before delivery): only this test's keys count.
          const got = (await collect(events, 500)).filter((e) => String((decodeJson(e.data) as { key?: unknown }).key).startsWith("evt-"));
          assert.equal(got.length, 3, `got ${got.map((e) => new TextDecoder().decode(e.data)).join(" | ")}`);
          assert.deepEqual(decodeJson(got[0]!.data), { service: svcB, key: "evt-1", action: "save" });
          assert.deepEqual(decodeJson(got[1]!.data), { service: svcB, key: "evt-2", action: "save", value: "shown" });
          assert.deepEqual(decodeJson(got[2]!.data), { service: svcB, key: "evt-2", action: "delete", value: "shown" });
          for (const e of got) {
            assert.deepEqual([e.eventType, e.topic, e.service], ["state", "state-changes", svcB]);
            assert.equal(e.metadata["ce-specversion"], "1.0");
            assert.equal(e.messageId, e.metadata["ce-id"]);
          }
        } finally {
          events.close();
        }
      });
    });

    describe("bad state input stores nothing", () => {
      const cases: Array<[string, () => Promise<unknown>, Code]> = [
        ["empty key", () => state.saveState({ service: svcA, key: "", value: "v" }), Code.InvalidArgument],
        ["oversized key", () => state.saveState({ service: svcA, key: "k".repeat(257), value: "v" }), Code.InvalidArgument],
        ["key with ||", () => state.saveState({ service: svcA, key: "bad||key", value: "v" }), Code.InvalidArgument],
        ["key ../x", () => state.saveState({ service: svcA, key: "../x", value: "v" }), Code.InvalidArgument],
        ["value over the limit", () => state.saveState({ service: svcA, key: "big", value: "x".repeat(1024 * 1024 + 1) }), Code.ResourceExhausted],
        ["unknown service", () => state.saveState({ service: `nope-${run}`, key: "k", value: "v" }), Code.NotFound],
        ["reserved gateway service", () => state.saveState({ service: "virtufin-api", key: "k", value: "v" }), Code.PermissionDenied],
        ["unknown service on get", () => state.getState({ service: `nope-${run}`, key: "k" }), Code.NotFound],
        ["delete with a bad key", () => state.deleteState({ service: svcA, key: "a b" }), Code.InvalidArgument],
        ["register no keys", () => state.registerKeys({ service: svcA, keys: [] }), Code.InvalidArgument],
      ];
      for (const [name, call, code] of cases) {
        it(`${name} -> ${Code[code]}`, async () => {
          assert.equal(await codeOf(call()), code);
        });
      }
      it("left no value behind", async () => {
        const all = await state.getAllState({ service: svcA });
        assert.equal("big" in all.values, false);
        assert.equal(Object.keys(all.values).some((k) => k.includes("bad") || k === ""), false);
      });
    });

    describe("publish and subscribe", () => {
      it("Pubsub.Subscribe receives published events intact, in order, with CloudEvents attributes", async () => {
        const topic = `${svcA}.orders`;
        const stream = await openStream(h.transport, Pubsub.method.subscribe, { service: svcA, topic }, h.app);
        try {
          const payload = new Uint8Array([0, 1, 2, 255, 254, 10, 13]);
          const res = await pubsub.publishEvent({
            service: svcA,
            topic,
            data: payload,
            metadata: { "ce-type": "com.virtufin.test.created", "x-trace-note": "kept" },
          });
          assert.notEqual(res.messageId, "");
          for (let i = 0; i < 20; i++) {
            await pubsub.publishEvent({ service: svcA, topic, data: new TextEncoder().encode(JSON.stringify({ seq: i })) });
          }
          const first = await stream.next();
          assert.ok(first);
          assert.deepEqual([...first.data], [...payload]);
          assert.deepEqual([first.service, first.topic, first.eventType, first.messageId], [svcA, topic, "pubsub", res.messageId]);
          assert.equal(first.metadata["ce-id"], res.messageId);
          assert.equal(first.metadata["ce-type"], "com.virtufin.test.created");
          assert.equal(first.metadata["ce-source"], `urn:com.virtufin.${svcA}`);
          assert.equal(first.metadata["ce-specversion"], "1.0");
          assert.equal(first.metadata["ce-datacontenttype"], "application/octet-stream");
          assert.equal(first.metadata["x-trace-note"], "kept");
          assert.ok(!Number.isNaN(Date.parse(first.metadata["ce-time"] ?? "")));
          const rest = await collect(stream, 20, 2000);
          assert.deepEqual(rest.map((e) => (decodeJson(e.data) as { seq: number }).seq), Array.from({ length: 20 }, (_, i) => i));
          assert.equal(rest[0]?.metadata["ce-datacontenttype"], "application/json");
        } finally {
          stream.close();
        }
      });

      it("Gateway.Subscribe delivers an event matching several scopes once, and nothing else", async () => {
        const topic = `${svcB}.status`; // a pinned topic of svcB
        const broad = await subscribe({ services: [svcB], topics: [topic], eventTypes: ["pubsub"] });
        const global = await subscribe({});
        const otherType = await subscribe({ services: [svcB], eventTypes: ["system"] });
        try {
          await pubsub.publishEvent({ service: svcB, topic, data: new TextEncoder().encode('{"n":1}') });
          const got = await collect(broad, 5);
          assert.equal(got.length, 1);
          const fromGlobal = (await collect(global, 50)).filter((e) => e.topic === topic);
          assert.equal(fromGlobal.length, 1);
          assert.equal((await collect(otherType, 5)).filter((e) => e.eventType !== "system").length, 0);
        } finally {
          broad.close();
          global.close();
          otherType.close();
        }
      });

      it("reports a new backend subscription as a connected system event on the owner's status topic", async () => {
        const watcher = await subscribe({ services: [svcA], eventTypes: ["system"] });
        const topic = `${svcA}.lifecycle-probe`;
        const stream = await openStream(h.transport, Pubsub.method.subscribe, { service: svcA, topic }, h.app);
        try {
          const got = await collect(watcher, 1, 5000);
          assert.equal(got.length, 1);
          const ev = got[0]!;
          assert.deepEqual([ev.eventType, ev.service, ev.topic], ["system", svcA, `${svcA}.status`]);
          assert.deepEqual(decodeJson(ev.data), { status: "connected", pubsubName: "pubsub", topic });
          assert.equal(ev.metadata["ce-type"], "com.virtufin.virtufin-api.subscription.connected");
        } finally {
          stream.close();
          watcher.close();
        }
      });

      const bad: Array<[string, () => Promise<unknown>, Code]> = [
        ["malformed topic", () => pubsub.publishEvent({ service: svcA, topic: "a..b" }), Code.InvalidArgument],
        ["wildcard topic", () => pubsub.publishEvent({ service: svcA, topic: "a.*" }), Code.InvalidArgument],
        ["upper-case topic", () => pubsub.publishEvent({ service: svcA, topic: "A.b" }), Code.InvalidArgument],
        ["state-changes topic", () => pubsub.publishEvent({ service: svcA, topic: "state-changes" }), Code.PermissionDenied],
        ["ce-specversion 0.3", () => pubsub.publishEvent({ service: svcA, topic: "a.b", metadata: { "ce-specversion": "0.3" } }), Code.InvalidArgument],
        ["ce-time not RFC 3339", () => pubsub.publishEvent({ service: svcA, topic: "a.b", metadata: { "ce-time": "yesterday" } }), Code.InvalidArgument],
        ["Dapr-internal metadata", () => pubsub.publishEvent({ service: svcA, topic: "a.b", metadata: { rawPayload: "true" } }), Code.InvalidArgument],
        ["foreign ce-source", () => pubsub.publishEvent({ service: svcA, topic: "a.b", metadata: { "ce-source": `urn:com.virtufin.${svcB}` } }), Code.PermissionDenied],
        ["unknown service", () => pubsub.publishEvent({ service: `nope-${run}`, topic: "a.b" }), Code.NotFound],
        ["data over the limit", () => pubsub.publishEvent({ service: svcA, topic: "a.b", data: new Uint8Array(1024 * 1024 + 1) }), Code.ResourceExhausted],
      ];
      for (const [name, call, code] of bad) {
        it(`publish with ${name} -> ${Code[code]}`, async () => {
          assert.equal(await codeOf(call()), code);
        });
      }

      const badFilters: Array<[string, Record<string, string[]>, Code]> = [
        ["an unknown event type", { eventTypes: ["bogus"] }, Code.InvalidArgument],
        ["an unknown service", { services: [`nope-${run}`] }, Code.NotFound],
        ["a malformed topic", { topics: ["a..b"] }, Code.InvalidArgument],
        ["too many entries", { topics: Array.from({ length: 101 }, (_, i) => `t.${i}`) }, Code.InvalidArgument],
      ];
      for (const [name, filter, code] of badFilters) {
        it(`Subscribe with ${name} -> ${Code[code]}`, async () => {
          assert.equal(await codeOf(subscribe(filter).then((s) => s.next())), code);
        });
      }
    });
  });
}
