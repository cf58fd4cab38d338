/**
 * End to end over the network: a Connect client over each protocol and HTTP version the gateway
 * serves on its one port — unary calls, errors, and a live Subscribe stream.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Gateway } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { decodeJson, openStream, startGateway, transports, type RunningGateway } from "../support/gateway.js";

describe("every protocol on one port", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
  });

  it("serves all five protocol variants", () => {
    assert.equal(transports("http://x").length, 5);
  });

  for (const { name } of transports("http://placeholder")) {
    describe(name, () => {
      const transport = () => transports(gw.baseUrl).find((t) => t.name === name)!.transport;
      const key = `proto-${name.replace(/[^a-z0-9]+/g, "-")}`;

      it("saves and reads a value byte for byte", async () => {
        const state = createClient(State, transport());
        const value = `"quoted" ⏱️ ${name}`;
        await state.saveState({ service: "workmanager", key, value });
        const got = await state.getState({ service: "workmanager", key });
        assert.equal(got.value, value);
        assert.equal(got.found, true);
      });

      it("reports errors with the right code", async () => {
        const state = createClient(State, transport());
        await assert.rejects(state.getState({ service: "no-such-service", key: "k" }), (e) => {
          assert.equal(ConnectError.from(e).code, Code.NotFound);
          assert.match(ConnectError.from(e).rawMessage, /unknown service "no-such-service"/);
          return true;
        });
      });

      it("streams a state event to a subscriber that learned it was subscribed from the headers", async () => {
        const stream = await openStream(transport(), Gateway.method.subscribe, { services: ["workmanager"], eventTypes: ["state"] });
        try {
          const state = createClient(State, transport());
          await state.saveState({ service: "workmanager", key: `${key}-evt`, value: "v", includeValue: true });
          const ev = await stream.next();
          assert.ok(ev);
          assert.deepEqual(decodeJson(ev.data), { service: "workmanager", key: `${key}-evt`, action: "save", value: "v" });
        } finally {
          stream.close();
        }
      });

      it("streams published events through Pubsub.Subscribe", async () => {
        const topic = `workmanager.${key}`;
        const stream = await openStream(transport(), Pubsub.method.subscribe, { service: "workmanager", topic });
        try {
          const pubsub = createClient(Pubsub, transport());
          const res = await pubsub.publishEvent({ service: "workmanager", topic, data: new Uint8Array([1, 2, 3]) });
          const ev = await stream.next();
          assert.ok(ev);
          assert.deepEqual([...ev.data], [1, 2, 3]);
          assert.equal(ev.messageId, res.messageId);
        } finally {
          stream.close();
        }
      });

      it("answers the standard health check", async () => {
        const health = createClient(Health, transport());
        assert.equal((await health.check({ service: "" })).status, HealthCheckResponse_ServingStatus.SERVING);
        await assert.rejects(health.check({ service: "no.such.Service" }), (e) => ConnectError.from(e).code === Code.NotFound);
      });
    });
  }
});
