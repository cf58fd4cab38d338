/** daprd (tools/daprd/bin/daprd, started by test/support/daprd.ts) and a gateway on it, for W3 and W4. */
import { createJetStreamStream, deleteRedisKeys } from "../../test/support/brokers.js";
import { daprdBinary, startDaprd, type Daprd } from "../../test/support/daprd.js";
import { procStats, type ProcStats } from "../lib/proc.js";
import { startGateway, type ServerTarget } from "../lib/targets.js";
import type { BenchContext } from "./context.js";

/** Why the Dapr workloads cannot run here, or undefined when daprd is built. */
export function daprdMissing(): string | undefined {
  return daprdBinary() === undefined ? "daprd is not built (tools/daprd/bin/daprd missing): run `npm run daprd:build`" : undefined;
}

export interface DaprEnv {
  readonly daprd: Daprd;
  readonly gateway: ServerTarget;
  readonly daprdStats: () => ProcStats;
  stop(): Promise<void>;
}

/**
 * daprd (not pinned: it is a multi-threaded Go process that the server side shares with the
 * gateway) with the shipped components, and the gateway on it with the run's topic prefix.
 * stop() removes every key and stream of the run from the shared Redis (and the JetStream stream).
 */
export async function startDaprEnv(ctx: BenchContext, pubsub: "redis" | "jetstream"): Promise<DaprEnv> {
  const prefix = `${ctx.service}.`;
  const deleteStream = pubsub === "jetstream" ? await createJetStreamStream(`VF_BENCH_${ctx.run}`, [`${prefix}>`]) : undefined;
  let daprd: Daprd | undefined;
  try {
    daprd = await startDaprd({ appId: `${ctx.service}-${pubsub}`, pubsub, logLevel: "warn" });
    const d = daprd;
    const gateway = await startGateway(ctx.pinning, {
      backend: "dapr",
      service: ctx.service,
      extraArgs: ["--dapr-grpc-port", String(d.grpcPort), "--dapr-http-port", String(d.httpPort), "--dapr-topic-prefix", prefix],
    });
    return {
      daprd: d,
      gateway,
      daprdStats: () => procStats(d.pid),
      async stop() {
        await gateway.stop();
        await d.stop();
        await deleteStream?.();
        await deleteRedisKeys(`${ctx.service}*`);
      },
    };
  } catch (err) {
    await daprd?.stop();
    await deleteStream?.();
    await deleteRedisKeys(`${ctx.service}*`).catch(() => undefined);
    throw err;
  }
}

/**
 * daprd alone (no gateway) with the same components, for W4's daprd-direct path; stop() cleans
 * up as startDaprEnv's does.
 */
export async function startDaprdOnly(ctx: BenchContext, pubsub: "redis" | "jetstream"): Promise<{ daprd: Daprd; daprdStats: () => ProcStats; stop(): Promise<void> }> {
  const prefix = `${ctx.service}.`;
  const deleteStream = pubsub === "jetstream" ? await createJetStreamStream(`VF_BENCH_${ctx.run}_D`, [`${prefix}>`]) : undefined;
  try {
    const d = await startDaprd({ appId: `${ctx.service}-${pubsub}-direct`, pubsub, logLevel: "warn" });
    return {
      daprd: d,
      daprdStats: () => procStats(d.pid),
      async stop() {
        await d.stop();
        await deleteStream?.();
        await deleteRedisKeys(`${ctx.service}*`);
      },
    };
  } catch (err) {
    await deleteStream?.();
    throw err;
  }
}
