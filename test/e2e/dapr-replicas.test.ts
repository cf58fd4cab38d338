/**
 * Two gateway replicas, each with its own daprd, over the same Redis: every replica receives
 * every event exactly once and none from before it subscribed; the key index survives 200
 * concurrent writers split across both; values land in Redis where a plain client can read them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Gateway } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { createServiceRegistry } from "../../src/services/registry.js";
import { deleteRedisKeys, redisClient } from "../support/brokers.js";
import { daprdGate, startDaprd, type Daprd } from "../support/daprd.js";
import { decodeJson, openStream, runId, startGateway, type RunningGateway } from "../support/gateway.js";

const gate = daprdGate();

describe("replicas over one Redis", { skip: gate.skip }, () => {
  const run = runId();
  const svc = `r-${run}`;
  const prefix = `${run}.`;
  const registry = () =>
    createServiceRegistry({ services: [{ name: svc, topics: [`${svc}.status`] }] }, { pubsubName: "pubsub", stateStoreName: "statestore" });
  const daprds: Daprd[] = [];
  let a: RunningGateway;
  let b: RunningGateway;

  before(async () => {
    daprds.push(await startDaprd({ appId: `vf-${run}-a`, pubsub: "redis" }), await startDaprd({ appId: `vf-${run}-b`, pubsub: "redis" }));
    const [da, db] = daprds as [Daprd, Daprd];
    a = await startGateway({ backend: "dapr", daprGrpcPort: da.grpcPort, daprTopicPrefix: prefix }, { registry: registry() });
    b = await startGateway({ backend: "dapr", daprGrpcPort: db.grpcPort, daprTopicPrefix: prefix }, { registry: registry() });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    for (const d of daprds) await d.stop();
    const redis = redisClient();
    await deleteRedisKeys(redis, `${svc}:*`);
    await deleteRedisKeys(redis, `${prefix}*`);
    redis.disconnect();
  });

  it("delivers every event published through B to a subscriber on A exactly once, and none from before it subscribed", async () => {
    const topic = `${svc}.orders`;
    const pubB = createClient(Pubsub, createGrpcTransport({ baseUrl: b.baseUrl }));
    await pubB.publishEvent({ service: svc, topic, data: new TextEncoder().encode('{"seq":-1}') });
    // Let the old event age past the replay guard's allowance for clock skew between replicas.
    await new Promise((r) => setTimeout(r, 1500));
    const stream = await openStream(createGrpcTransport({ baseUrl: a.baseUrl }), Pubsub.method.subscribe, { service: svc, topic });
    try {
      for (let seq = 0; seq < 30; seq++) {
        await pubB.publishEvent({ service: svc, topic, data: new TextEncoder().encode(JSON.stringify({ seq })) });
      }
      const seen: number[] = [];
      for (;;) {
        const ev = await stream.next(seen.length < 30 ? 10_000 : 1500).catch(() => undefined);
        if (ev === undefined) break;
        if (ev.eventType === "pubsub") seen.push((decodeJson(ev.data) as { seq: number }).seq);
      }
      assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i));
    } finally {
      stream.close();
    }
  });

  it("keeps all 200 keys saved concurrently through both replicas, readable in Redis by a plain client", async () => {
    const stateA = createClient(State, createGrpcTransport({ baseUrl: a.baseUrl }));
    const stateB = createClient(State, createGrpcTransport({ baseUrl: b.baseUrl }));
    const keys = Array.from({ length: 200 }, (_, i) => `k-${i}`);
    await Promise.all(keys.map((key, i) => (i % 2 === 0 ? stateA : stateB).saveState({ service: svc, key, value: `v-${i}` })));
    const all = await stateA.getAllState({ service: svc });
    assert.equal(Object.keys(all.values).length, 200);
    keys.forEach((key, i) => assert.equal(all.values[key], `v-${i}`));
    const redis = redisClient();
    try {
      assert.equal(await redis.hget(`${svc}:k-7`, "data"), "v-7");
    } finally {
      redis.disconnect();
    }
  });

  it("delivers the state event of a save on B to a subscriber on A through the Dapr subscription", async () => {
    const stream = await openStream(createGrpcTransport({ baseUrl: a.baseUrl }), Gateway.method.subscribe, { services: [svc], eventTypes: ["state"] });
    try {
      await createClient(State, createGrpcTransport({ baseUrl: b.baseUrl })).saveState({ service: svc, key: "evt", value: "x", includeValue: true });
      // The state events of the previous test's 200 saves may still be on their way: skip them.
      const ofEvt = async (timeoutMs: number) => {
        for (;;) {
          const ev = await stream.next(timeoutMs);
          const body = decodeJson(ev!.data) as { key?: string };
          if (body.key === "evt") return body;
        }
      };
      assert.deepEqual(await ofEvt(20_000), { service: svc, key: "evt", action: "save", value: "x" });
      assert.equal(await ofEvt(1000).catch(() => "quiet"), "quiet", "exactly one event for the save");
    } finally {
      stream.close();
    }
  });
});
