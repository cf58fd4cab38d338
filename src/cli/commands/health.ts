/** `virtufin health`: the standard grpc.health.v1 Check. */
import { createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import { unaryCall, type CommandContext } from "../context.js";
import { ExitStatus } from "../errors.js";
import { toJsonLine } from "../format.js";

export async function health(ctx: CommandContext): Promise<number> {
  const [service = ""] = ctx.options.service;
  const res = await createClient(Health, ctx.transport).check({ service }, unaryCall(ctx));
  const name = HealthCheckResponse_ServingStatus[res.status] ?? String(res.status);
  await ctx.io.stdout(ctx.global.json ? `${toJsonLine(HealthCheckResponseSchema, res)}\n` : `${name}\n`);
  return res.status === HealthCheckResponse_ServingStatus.SERVING ? ExitStatus.ok : ExitStatus.negative;
}
