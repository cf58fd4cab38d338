/**
 * The backend contract suite against the real Dapr sidecar: daprd over Redis (state and pub/sub),
 * and daprd over Redis state with NATS JetStream pub/sub. Every run has its own service names,
 * keys and topic prefix, so it shares the machine's Redis and NATS safely.
 */
import { describe } from "node:test";
import { runContractSuite } from "../contract/contract-suite.js";
import { createJetStreamStream, deleteRedisKeys } from "../support/brokers.js";
import { GATEWAY_SERVICE } from "../../src/services/registry.js";
import { daprdGate, startDaprd } from "../support/daprd.js";
import { runId, startInProcess } from "../support/gateway.js";

const gate = daprdGate();

describe("Dapr sidecar backend", { skip: gate.skip }, () => {
  for (const pubsub of ["redis", "jetstream"] as const) {
    runContractSuite(`daprd + Redis state + ${pubsub === "redis" ? "Redis Streams" : "NATS JetStream"} pub/sub`, async (overrides) => {
      const run = runId();
      const prefix = `${run}.`;
      const deleteStream = pubsub === "jetstream" ? await createJetStreamStream(`VF_${run}`, [`${run}.>`]) : undefined;
      const daprd = await startDaprd({ appId: `vf-${run}`, pubsub });
      try {
        const h = await startInProcess(
          { backend: "dapr", daprGrpcPort: daprd.grpcPort, daprHttpPort: daprd.httpPort, daprTopicPrefix: prefix },
          overrides,
        );
        return {
          ...h,
          async stop() {
            await h.stop();
            await daprd.stop();
            await deleteStream?.();
            // The machine's Redis is shared: remove this run's keys and streams.
            for (const service of overrides.registry?.all ?? []) {
              if (service.name !== GATEWAY_SERVICE) await deleteRedisKeys(`${service.name}:*`);
            }
            await deleteRedisKeys(`${prefix}*`);
          },
        };
      } catch (err) {
        await daprd.stop();
        await deleteStream?.();
        throw err;
      }
    });
  }
});
