import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { StatusResponseSchema } from "../../gen/virtufin/api/v1/common_pb.js";
import { Scenarios, ScenarioStatus, type ScenarioSchema } from "../../gen/virtufin/api/v1/scenarios_pb.js";
import type { ScenarioRecord } from "../scenarios/record.js";
import { descriptionProblem, pageSizeProblem, scenarioIdProblem, type ScenarioStatus as Status } from "../scenarios/rules.js";
import type { ScenarioRegistry } from "../scenarios/scenario-registry.js";

const STATUS: Readonly<Record<Status, ScenarioStatus>> = {
  active: ScenarioStatus.ACTIVE,
  paused: ScenarioStatus.PAUSED,
  archived: ScenarioStatus.ARCHIVED,
};

export function createScenariosHandlers(registry: ScenarioRegistry): ServiceImpl<typeof Scenarios> {
  return {
    async createScenario(req, ctx) {
      const id = requireScenarioId(req.scenarioId);
      const description = requireDescription(req.description);
      return { scenario: toProto(await registry.create(id, description, ctx.signal)) };
    },

    async getScenario(req, ctx) {
      return { scenario: toProto(await registry.get(requireScenarioId(req.scenarioId), ctx.signal)) };
    },

    async listScenarios(req, ctx) {
      const page = await registry.list(requirePageSize(req.pageSize), req.pageToken, ctx.signal);
      return { scenarios: page.scenarios.map(toProto), nextPageToken: page.nextPageToken };
    },

    async pauseScenario(req, ctx) {
      return { scenario: toProto(await registry.pause(requireScenarioId(req.scenarioId), ctx.signal)) };
    },

    async resumeScenario(req, ctx) {
      return { scenario: toProto(await registry.resume(requireScenarioId(req.scenarioId), ctx.signal)) };
    },

    async archiveScenario(req, ctx) {
      return { scenario: toProto(await registry.archive(requireScenarioId(req.scenarioId), ctx.signal)) };
    },

    async deleteScenario(req, ctx) {
      await registry.delete(requireScenarioId(req.scenarioId), ctx.signal);
      return { status: create(StatusResponseSchema, { success: true, message: "OK" }) };
    },
  };
}

/** The request rules of Scenarios, run before the registry is touched. */
function requireScenarioId(id: string): string {
  const problem = scenarioIdProblem(id);
  if (problem !== undefined) throw new ConnectError(problem, Code.InvalidArgument);
  return id;
}

function requireDescription(description: string): string {
  const problem = descriptionProblem(description);
  if (problem !== undefined) throw new ConnectError(problem, Code.InvalidArgument);
  return description;
}

function requirePageSize(pageSize: number): number {
  const problem = pageSizeProblem(pageSize);
  if (problem !== undefined) throw new ConnectError(problem, Code.InvalidArgument);
  return pageSize;
}

function toProto(r: ScenarioRecord): MessageInitShape<typeof ScenarioSchema> {
  return { scenarioId: r.scenarioId, status: STATUS[r.status], description: r.description, createdAt: r.createdAt, updatedAt: r.updatedAt };
}
