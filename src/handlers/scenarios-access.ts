/**
 * Managing scenarios (create, pause, resume, archive, delete) changes what every service may
 * publish, so when credentials are configured it needs the admin role; reading them does not.
 */
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { Scenarios } from "../../gen/virtufin/api/v1/scenarios_pb.js";
import { identityKey } from "../auth/access-control.js";
import type { HandlerDeps } from "./deps.js";

export function requireScenarioAdmin(
  handlers: ServiceImpl<typeof Scenarios>,
  deps: Pick<HandlerDeps, "policy" | "audit">,
): ServiceImpl<typeof Scenarios> {
  const mayManage = (ctx: HandlerContext, scenarioId: string) => {
    if (deps.policy.open || ctx.values.get(identityKey)?.admin === true) return;
    throw deps.audit.refuse(ctx, `scenario ${scenarioId}`, "scenarios: admin only", "managing scenarios needs the admin role");
  };
  return {
    ...handlers,
    createScenario: (req, ctx) => (mayManage(ctx, req.scenarioId), handlers.createScenario(req, ctx)),
    pauseScenario: (req, ctx) => (mayManage(ctx, req.scenarioId), handlers.pauseScenario(req, ctx)),
    resumeScenario: (req, ctx) => (mayManage(ctx, req.scenarioId), handlers.resumeScenario(req, ctx)),
    archiveScenario: (req, ctx) => (mayManage(ctx, req.scenarioId), handlers.archiveScenario(req, ctx)),
    deleteScenario: (req, ctx) => (mayManage(ctx, req.scenarioId), handlers.deleteScenario(req, ctx)),
  };
}
