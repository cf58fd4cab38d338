/**
 * Faults against the real sidecar: daprd killed while a subscriber is connected (fail fast once
 * the breaker opens, a `disconnected` lifecycle event, the subscription back by itself after a
 * restart), and Redis paused with CLIENT PAUSE (no call hangs past its deadline; nothing
 * acknowledged as saved is lost).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Gateway } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import type { SidecarDaprAdapter } from "../../src/dapr/sidecar/sidecar-adapter.js";
import type { DeferredAdapter } from "../../src/dapr/deferred-adapter.js";
import { createServiceRegistry } from "../../src/services/registry.js";
import { deleteRedisKeys, redisClient } from "../support/brokers.js";
import { daprdGate, startDaprd, type Daprd } from "../support/daprd.js";
import { scrape } from "../support/metrics.js";
import { decodeJson, eventually, openStream, runId, startGateway, type RunningGateway } from "../support/gateway.js";

const gate = daprdGate();

describe("faults", { skip: gate.skip }, () => {
  const run = runId();
  const svc = `f-${run}`;
  const prefix = `${run}.`;
  let daprd: Daprd;
  let gw: RunningGateway;

  before(async () => {
    daprd = await startDaprd({ appId: `vf-${run}`, pubsub: "redis" });
    gw = await startGateway(
      { backend: "dapr", daprGrpcPort: daprd.grpcPort, daprTopicPrefix: prefix, daprCallTimeoutMs: 1000 },
      { registry: createServiceRegistry({ services: [{ name: svc, topics: [`${svc}.status`] }] }, { pubsubName: "pubsub", stateStoreName: "statestore" }) },
    );
  });
  after(async () => {
    await gw?.stop();
    await daprd?.stop();
    const redis = redisClient();
    await deleteRedisKeys(redis, `${svc}:*`);
    await deleteRedisKeys(redis, `${prefix}*`);
    redis.disconnect();
  });

  it("fails fast with UNAVAILABLE, reports the lost subscription, and recovers by itself when daprd comes back", async () => {
    const transport = createGrpcTransport({ baseUrl: gw.baseUrl });
    const state = createClient(State, transport);
    const topic = `${svc}.orders`;
    const events = await openStream(transport, Pubsub.method.subscribe, { service: svc, topic });
    const lifecycle = await openStream(transport, Gateway.method.subscribe, { services: [svc], eventTypes: ["system"] });
    try {
      await state.saveState({ service: svc, key: "before", value: "1" });
      await daprd.kill("SIGKILL");

      const disconnected = await lifecycle.next(10_000);
      assert.equal((decodeJson(disconnected!.data) as { status: string }).status, "disconnected");
      const onTopic = await events.next(10_000);
      assert.equal(onTopic?.eventType, "system", "the Pubsub.Subscribe stream hears about its own subscription");

      const codes: Code[] = [];
      for (let i = 0; i < 12; i++) {
        codes.push(await state.getState({ service: svc, key: "before" }, { timeoutMs: 5000 }).then(() => -1 as Code, (e: unknown) => ConnectError.from(e).code));
      }
      assert.deepEqual(new Set(codes), new Set([Code.Unavailable]), `codes: ${codes.map((c) => Code[c]).join(",")}`);
      const breakers = ((gw.app.adapter as DeferredAdapter).backend as SidecarDaprAdapter).breakerStates();
      assert.equal(breakers["dapr.getState"], "open", JSON.stringify(breakers));
      assert.equal(await scrape(gw.baseUrl, "virtufin_dapr_breaker_open", { operation: "dapr.getState" }), 1, "the breaker metric shows it open");
      // Every one of the 12 calls is timed, whether it failed after retries or fast on the open breaker.
      assert.equal(await scrape(gw.baseUrl, "virtufin_dapr_call_duration_count", { operation: "dapr.getState", outcome: "error" }), 12, "Dapr call latency by outcome");
      assert.ok((await scrape(gw.baseUrl, "virtufin_dapr_call_duration_count", { operation: "dapr.saveState", outcome: "ok" })) >= 1, "the save before the outage was timed as ok");
      const readyz = await fetch(`${gw.baseUrl}/readyz`);
      assert.equal(readyz.status, 503, "not ready while a breaker is open");
      assert.ok(((await readyz.json()) as { waitingFor: string[] }).waitingFor.includes("breaker dapr.getState closed"));

      await daprd.restart();
      // The subscription comes back by itself (failed attempts may be reported first).
      for (;;) {
        const ev = await lifecycle.next(30_000);
        const status = (decodeJson(ev!.data) as { status: string }).status;
        if (status === "connected") break;
        assert.ok(["failed", "disconnected"].includes(status), status);
      }
      await eventually(
        () => state.getState({ service: svc, key: "before" }).then((r) => r.value === "1", () => false),
        "the breaker to close again",
        120,
        100,
      );
      await eventually(async () => (await fetch(`${gw.baseUrl}/readyz`)).status === 200, "readiness to come back", 100, 100);
      const res = await createClient(Pubsub, transport).publishEvent({ service: svc, topic, data: new TextEncoder().encode('{"after":true}') });
      for (;;) {
        const ev = await events.next(10_000);
        if (ev?.eventType === "pubsub") {
          assert.equal(ev.messageId, res.messageId);
          break;
        }
      }
    } finally {
      events.close();
      lifecycle.close();
    }
  });

  it("ends every call within its deadline while Redis is paused, and loses nothing it acknowledged", async () => {
    const state = createClient(State, createGrpcTransport({ baseUrl: gw.baseUrl }));
    await eventually(() => state.getState({ service: svc, key: "x" }).then(() => true, () => false), "the gateway to serve");
    const admin = redisClient();
    let paused = true;
    try {
      await admin.call("CLIENT", "PAUSE", "4000", "ALL");
      setTimeout(() => (paused = false), 4000);
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          state.saveState({ service: svc, key: `paused-${i}`, value: `v${i}` }, { timeoutMs: 1500 }).then(
            () => ({ i, code: "ok" as const, duringPause: paused }),
            (e: unknown) => ({ i, code: Code[ConnectError.from(e).code], duringPause: paused }),
          ),
        ),
      );
      for (const o of outcomes) {
        assert.ok(o.duringPause, `call ${o.i} settled while Redis was still paused (no hang past its deadline)`);
        assert.ok(["ok", "DeadlineExceeded", "Unavailable"].includes(o.code), `call ${o.i}: ${o.code}`);
      }
      await eventually(() => !paused, "the pause to end", 100, 100);
      await eventually(() => state.getState({ service: svc, key: "x" }).then(() => true, () => false), "the gateway to serve again", 200, 100);
      for (const o of outcomes.filter((x) => x.code === "ok")) {
        assert.equal((await state.getState({ service: svc, key: `paused-${o.i}` })).value, `v${o.i}`, "an acknowledged save is readable");
      }
    } finally {
      await admin.call("CLIENT", "UNPAUSE").catch(() => {});
      admin.disconnect();
    }
  });
});
