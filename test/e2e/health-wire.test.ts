/**
 * grpc.health.v1 over the wire, next to /readyz over HTTP/1.1: Watch over gRPC, gRPC-Web and
 * Connect sees SERVING, then NOT_SERVING as soon as shutdown begins; with the Dapr backend, the
 * gateway listens but is NOT_SERVING until the sidecar answers, becomes SERVING when it does, and
 * goes NOT_SERVING again when a breaker opens. (test/rpc/health.test.ts covers the same states
 * in-process, including before the embedded store opens.)
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { createApp } from "../../src/app.js";
import { createServiceRegistry } from "../../src/services/registry.js";
import { deleteRedisKeys, redisClient } from "../support/brokers.js";
import { daprdGate, freePorts, startDaprd, type Daprd } from "../support/daprd.js";
import { eventually, openStream, runId, startGateway, tempDir, testConfig, transports } from "../support/gateway.js";

describe("health over the wire (embedded)", () => {
  it("Watch on every protocol: SERVING, then NOT_SERVING when shutdown begins; Check NOT_FOUND for an unknown name", async () => {
    const gw = await startGateway();
    const stopped = { done: false };
    try {
      const readyz = await fetch(`${gw.baseUrl}/readyz`);
      assert.equal(readyz.status, 200);
      assert.equal(((await readyz.json()) as { status: string }).status, "ready");

      const watches = [];
      for (const { name, transport } of transports(gw.baseUrl)) {
        const health = createClient(Health, transport);
        assert.equal((await health.check({ service: "" })).status, Status.SERVING, name);
        await assert.rejects(health.check({ service: "no.such.Service" }), (e) => ConnectError.from(e).code === Code.NotFound, name);
        const unknown = await openStream(transport, Health.method.watch, { service: "no.such.Service" });
        assert.equal((await unknown.next())?.status, Status.SERVICE_UNKNOWN, name);
        unknown.close();
        const watch = await openStream(transport, Health.method.watch, { service: "virtufin.api.v1.Gateway" });
        assert.equal((await watch.next())?.status, Status.SERVING, `${name}: Watch sends the current status at once`);
        watches.push({ name, watch });
      }

      const stopping = gw.stop().then(() => (stopped.done = true));
      for (const { name, watch } of watches) {
        assert.equal((await watch.next())?.status, Status.NOT_SERVING, `${name}: NOT_SERVING as soon as shutdown begins`);
        // Then the stream ends with UNAVAILABLE, so the client goes to another replica.
        await assert.rejects(watch.next(), (e: unknown) => {
          assert.equal(ConnectError.from(e).code, Code.Unavailable, `${name}: ${String(e)}`);
          return true;
        });
      }
      await stopping;
    } finally {
      if (!stopped.done) await gw.stop();
    }
  });
});

const gate = daprdGate();

describe("health over the wire (Dapr backend)", { skip: gate.skip }, () => {
  const run = runId();
  const svc = `h-${run}`;
  let daprd: Daprd | undefined;
  after(async () => {
    await daprd?.stop();
    const redis = redisClient();
    await deleteRedisKeys(redis, `${svc}:*`);
    await deleteRedisKeys(redis, `${run}.*`);
    redis.disconnect();
  });

  it("NOT_SERVING while the sidecar is down (before and after start-up), SERVING while it answers", async () => {
    // A sidecar that is not running yet: start it, note its ports, kill it.
    daprd = await startDaprd({ appId: `vf-h-${run}`, pubsub: "redis" });
    await daprd.kill("SIGKILL");
    const [httpPort] = (await freePorts(1)) as [number];
    const dir = tempDir();
    const app = createApp(
      testConfig({ backend: "dapr", daprGrpcPort: daprd.grpcPort, daprTopicPrefix: `${run}.`, daprCallTimeoutMs: 1000, daprStartupTimeoutMs: 60_000, httpPort, dataDir: dir.path }),
      { registry: createServiceRegistry({ services: [{ name: svc, topics: [`${svc}.status`] }] }, { pubsubName: "pubsub", stateStoreName: "statestore" }) },
    );
    const listening = app.listen();
    const baseUrl = `http://127.0.0.1:${httpPort}`;
    try {
      await eventually(() => fetch(`${baseUrl}/healthz`).then((r) => r.ok, () => false), "the gateway to listen");
      const transport = createGrpcTransport({ baseUrl });
      const health = createClient(Health, transport);
      assert.equal((await health.check({ service: "" })).status, Status.NOT_SERVING, "listening but the sidecar has not answered");
      const readyz = await fetch(`${baseUrl}/readyz`);
      assert.equal(readyz.status, 503);
      assert.ok(((await readyz.json()) as { waitingFor: string[] }).waitingFor.includes("backend"));
      const watch = await openStream(transport, Health.method.watch, { service: "" });
      assert.equal((await watch.next())?.status, Status.NOT_SERVING);

      await daprd.restart();
      assert.equal((await watch.next(30_000))?.status, Status.SERVING, "SERVING once the sidecar answers and the subscriptions are up");
      await listening;
      assert.equal((await fetch(`${baseUrl}/readyz`)).status, 200);

      // The sidecar goes away: calls open the breaker, and the Watch hears NOT_SERVING.
      await daprd.kill("SIGKILL");
      const state = createClient(State, transport);
      for (let i = 0; i < 12; i++) await state.getState({ service: svc, key: "k" }, { timeoutMs: 5000 }).catch(() => undefined);
      assert.equal((await watch.next(10_000))?.status, Status.NOT_SERVING, "NOT_SERVING while a breaker is open");
      assert.equal((await health.check({ service: "" })).status, Status.NOT_SERVING);
      watch.close();
    } finally {
      await listening.catch(() => undefined);
      await app.stop();
      dir.remove();
    }
  });
});
