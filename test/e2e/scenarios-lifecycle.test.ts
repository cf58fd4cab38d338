/**
 * The scenario lifecycle end to end, on both backends: create, publish into the scenario lane,
 * pause (the same publish then fails on every replica), resume, archive, delete; after a restart
 * the registry is intact.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { Scenarios, ScenarioStatus } from "../../gen/virtufin/api/v1/scenarios_pb.js";
import { deleteRedisKeys } from "../support/brokers.js";
import { daprdGate, startDaprd, type Daprd } from "../support/daprd.js";
import { eventually, runId, startGateway, tempDir, type RunningGateway } from "../support/gateway.js";
import { spawnGateway } from "../support/process.js";

async function publishCode(pubsub: Client<typeof Pubsub>, topic: string): Promise<Code | "ok"> {
  try {
    await pubsub.publishEvent({ service: "workmanager", topic, data: new TextEncoder().encode("{}") });
    return "ok";
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

/** Every replica must reach `want`; the registry's events propagate within a second (polled, bounded). */
async function everyReplica(replicas: Array<Client<typeof Pubsub>>, topic: string, want: Code | "ok"): Promise<void> {
  for (const [i, pubsub] of replicas.entries()) {
    await eventually(async () => (await publishCode(pubsub, topic)) === want, `replica ${i} to answer ${want === "ok" ? "OK" : Code[want]}`, 40, 50);
  }
}

async function lifecycle(admin: Client<typeof Scenarios>, replicas: Array<Client<typeof Pubsub>>, id: string): Promise<void> {
  const topic = `sc.${id}.orders.new`;
  assert.equal(await publishCode(replicas[0]!, topic), Code.FailedPrecondition, "an unregistered scenario refuses publishes");
  const created = await admin.createScenario({ scenarioId: id, description: "e2e" });
  assert.equal(created.scenario?.status, ScenarioStatus.ACTIVE);
  await everyReplica(replicas, topic, "ok");
  await admin.pauseScenario({ scenarioId: id });
  await everyReplica(replicas, topic, Code.FailedPrecondition);
  await assert.rejects(admin.pauseScenario({ scenarioId: id }), (e) => {
    assert.equal(ConnectError.from(e).code, Code.FailedPrecondition);
    assert.match(ConnectError.from(e).rawMessage, /paused/);
    return true;
  });
  await admin.resumeScenario({ scenarioId: id });
  await everyReplica(replicas, topic, "ok");
  await assert.rejects(admin.deleteScenario({ scenarioId: id }), (e) => ConnectError.from(e).code === Code.FailedPrecondition);
  await admin.archiveScenario({ scenarioId: id });
  await everyReplica(replicas, topic, Code.FailedPrecondition);
  await admin.deleteScenario({ scenarioId: id });
  await assert.rejects(admin.getScenario({ scenarioId: id }), (e) => ConnectError.from(e).code === Code.NotFound);
  assert.equal(await publishCode(replicas[0]!, "sc.LIVE.orders.new"), "ok", "LIVE is always active");
}

describe("scenario lifecycle on the embedded backend", () => {
  it("runs the whole lifecycle and keeps the registry across a restart", async () => {
    const dir = tempDir();
    try {
      const first = await spawnGateway(["--data-dir", dir.path]);
      const t1 = createGrpcTransport({ baseUrl: first.baseUrl });
      await lifecycle(createClient(Scenarios, t1), [createClient(Pubsub, t1)], `emb-${runId()}`);
      await createClient(Scenarios, t1).createScenario({ scenarioId: "kept", description: "survives a restart" });
      await createClient(Scenarios, t1).pauseScenario({ scenarioId: "kept" });
      assert.equal(await first.stop(), 0);

      const second = await spawnGateway(["--data-dir", dir.path]);
      try {
        const t2 = createGrpcTransport({ baseUrl: second.baseUrl });
        const kept = await createClient(Scenarios, t2).getScenario({ scenarioId: "kept" });
        assert.deepEqual([kept.scenario?.status, kept.scenario?.description], [ScenarioStatus.PAUSED, "survives a restart"]);
        assert.equal(await publishCode(createClient(Pubsub, t2), "sc.kept.orders.new"), Code.FailedPrecondition, "the cache is loaded at start");
      } finally {
        await second.stop();
      }
    } finally {
      dir.remove();
    }
  });
});

const gate = daprdGate();

describe("scenario lifecycle on two replicas over Dapr", { skip: gate.skip }, () => {
  const run = runId();
  const prefix = `${run}.`;
  const daprds: Daprd[] = [];
  const gateways: RunningGateway[] = [];

  before(async () => {
    for (const side of ["a", "b"]) {
      const daprd = await startDaprd({ appId: `vf-${run}-${side}`, pubsub: "redis" });
      daprds.push(daprd);
      gateways.push(await startGateway({ backend: "dapr", daprGrpcPort: daprd.grpcPort, daprTopicPrefix: prefix }));
    }
  });
  after(async () => {
    for (const g of gateways) await g.stop();
    for (const d of daprds) await d.stop();
    await deleteRedisKeys(`${prefix}*`);
  });

  it("pauses a scenario on every replica, and a restarted replica finds the registry intact", async () => {
    const [a, b] = gateways as [RunningGateway, RunningGateway];
    const admin = createClient(Scenarios, createGrpcTransport({ baseUrl: a.baseUrl }));
    const replicas = [a, b].map((g) => createClient(Pubsub, createGrpcTransport({ baseUrl: g.baseUrl })));
    await lifecycle(admin, replicas, `dapr-${run}`);

    const id = `kept-${run}`;
    await admin.createScenario({ scenarioId: id });
    await a.stop();
    const again = await startGateway({ backend: "dapr", daprGrpcPort: daprds[0]!.grpcPort, daprTopicPrefix: prefix });
    gateways[0] = again;
    const kept = await createClient(Scenarios, createGrpcTransport({ baseUrl: again.baseUrl })).getScenario({ scenarioId: id });
    assert.equal(kept.scenario?.status, ScenarioStatus.ACTIVE);
    // Leave the shared Redis as we found it.
    await createClient(Scenarios, createGrpcTransport({ baseUrl: again.baseUrl })).archiveScenario({ scenarioId: id });
    await createClient(Scenarios, createGrpcTransport({ baseUrl: again.baseUrl })).deleteScenario({ scenarioId: id });
  });
});
