/**
 * grpc.health.v1: NOT_SERVING until the store is open and the subscriptions are up, SERVING
 * then, NOT_SERVING again as soon as shutdown begins; Watch sends the current status at once and
 * every change; new calls during shutdown are refused with UNAVAILABLE; unknown service names are NOT_FOUND (Check) and SERVICE_UNKNOWN (Watch).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { createApp } from "../../src/app.js";
import { tempDir, testConfig } from "../support/gateway.js";

describe("health", () => {
  it("follows the app from not started to serving to shutting down", async () => {
    const dir = tempDir();
    const app = createApp(testConfig({ dataDir: dir.path }));
    const transport = createRouterTransport(app.routes, { router: app.routerOptions });
    const health = createClient(Health, transport);
    try {
      assert.equal((await health.check({ service: "" })).status, Status.NOT_SERVING, "not serving before the store opens");
      const watch = health.watch({ service: "virtufin.api.v1.State" })[Symbol.asyncIterator]();
      assert.equal((await watch.next()).value?.status, Status.NOT_SERVING, "Watch sends the current status at once");
      const started = app.start();
      assert.equal((await watch.next()).value?.status, Status.SERVING);
      await started;
      assert.equal((await health.check({ service: "virtufin.api.v1.Scenarios" })).status, Status.SERVING);
      await assert.rejects(health.check({ service: "no.such.Service" }), (e) => ConnectError.from(e).code === Code.NotFound);
      const unknown = health.watch({ service: "no.such.Service" })[Symbol.asyncIterator]();
      assert.equal((await unknown.next()).value?.status, Status.SERVICE_UNKNOWN);
      const stopping = app.stop();
      assert.equal((await watch.next()).value?.status, Status.NOT_SERVING, "readiness flips as soon as shutdown begins");
      await assert.rejects(createClient(State, transport).getState({ service: "state", key: "k" }), (e) => {
        assert.equal(ConnectError.from(e).code, Code.Unavailable, "new calls are refused during shutdown");
        return true;
      });
      await stopping;
      await assert.rejects(watch.next(), (e) => ConnectError.from(e).code === Code.Unavailable, "then the Watch ends with UNAVAILABLE");
    } finally {
      dir.remove();
    }
  });
});
