/** `virtufin scenario create|get|list|pause|resume|archive|delete`: the Scenarios service. */
import { createClient, type Client } from "@connectrpc/connect";
import {
  DeleteScenarioResponseSchema,
  ListScenariosResponseSchema,
  ScenarioSchema,
  Scenarios,
  type Scenario,
} from "../../../gen/virtufin/api/v1/scenarios_pb.js";
import { arg, unaryCall, type CommandContext } from "../context.js";
import { ExitStatus } from "../errors.js";
import { formatScenarioTable, toJsonLine } from "../format.js";

type ScenarioAction = "create" | "get" | "pause" | "resume" | "archive";
type ScenariosClient = Client<typeof Scenarios>;
type CallOptions = ReturnType<typeof unaryCall>;

/** Each action is one RPC that answers with the scenario as it is afterwards. */
const ACTIONS: Record<ScenarioAction, (client: ScenariosClient, ctx: CommandContext, scenarioId: string, call: CallOptions) => Promise<{ scenario?: Scenario | undefined }>> = {
  create: (client, ctx, scenarioId, call) => client.createScenario({ scenarioId, description: ctx.options.description ?? "" }, call),
  get: (client, _ctx, scenarioId, call) => client.getScenario({ scenarioId }, call),
  pause: (client, _ctx, scenarioId, call) => client.pauseScenario({ scenarioId }, call),
  resume: (client, _ctx, scenarioId, call) => client.resumeScenario({ scenarioId }, call),
  archive: (client, _ctx, scenarioId, call) => client.archiveScenario({ scenarioId }, call),
};

export function scenarioCommand(action: ScenarioAction): (ctx: CommandContext) => Promise<number> {
  return async (ctx) => {
    const res = await ACTIONS[action](createClient(Scenarios, ctx.transport), ctx, arg(ctx, 0), unaryCall(ctx));
    await printScenarios(ctx, res.scenario === undefined ? [] : [res.scenario]);
    return ExitStatus.ok;
  };
}

async function printScenarios(ctx: CommandContext, scenarios: readonly Scenario[]): Promise<void> {
  if (ctx.global.json) {
    for (const s of scenarios) await ctx.io.stdout(`${toJsonLine(ScenarioSchema, s)}\n`);
  } else if (scenarios.length > 0) {
    await ctx.io.stdout(formatScenarioTable(scenarios).join("\n") + "\n");
  }
}

/**
 * Without --page-size: every page, followed through next_page_token, printed as one table (JSON:
 * one scenario per line). With it: that one page, and the token of the next on stderr.
 */
export async function scenarioList(ctx: CommandContext): Promise<number> {
  const client = createClient(Scenarios, ctx.transport);
  const { pageSize, pageToken } = ctx.options;
  if (pageSize !== undefined) {
    const res = await client.listScenarios({ pageSize, pageToken: pageToken ?? "" }, unaryCall(ctx));
    if (ctx.global.json) {
      await ctx.io.stdout(`${toJsonLine(ListScenariosResponseSchema, res)}\n`);
    } else {
      await printScenarios(ctx, res.scenarios);
      if (res.nextPageToken !== "") ctx.io.stderr(`next page: --page-token ${res.nextPageToken}\n`);
    }
    return ExitStatus.ok;
  }
  const all: Scenario[] = [];
  let token = pageToken ?? "";
  do {
    const res = await client.listScenarios({ pageToken: token }, unaryCall(ctx));
    all.push(...res.scenarios);
    token = res.nextPageToken;
  } while (token !== "");
  if (all.length === 0 && !ctx.global.json) ctx.io.stderr("virtufin: no scenarios\n");
  await printScenarios(ctx, all);
  return ExitStatus.ok;
}

export async function scenarioDelete(ctx: CommandContext): Promise<number> {
  const scenarioId = arg(ctx, 0);
  const res = await createClient(Scenarios, ctx.transport).deleteScenario({ scenarioId }, unaryCall(ctx));
  await ctx.io.stdout(ctx.global.json ? `${toJsonLine(DeleteScenarioResponseSchema, res)}\n` : `deleted scenario ${scenarioId}\n`);
  return ExitStatus.ok;
}
