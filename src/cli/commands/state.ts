/** `virtufin state get|set|list|delete|register`: the State service. */
import { createClient } from "@connectrpc/connect";
import {
  DeleteStateResponseSchema,
  GetAllStateResponseSchema,
  GetStateResponseSchema,
  RegisterKeysResponseSchema,
  SaveStateResponseSchema,
  State,
} from "../../../gen/virtufin/api/v1/state_pb.js";
import { arg, unaryCall, type CommandContext } from "../context.js";
import { ExitStatus } from "../errors.js";
import { formatStateTable, toJsonLine } from "../format.js";

export async function stateGet(ctx: CommandContext): Promise<number> {
  const [service, key] = [arg(ctx, 0), arg(ctx, 1)];
  const res = await createClient(State, ctx.transport).getState({ service, key }, unaryCall(ctx));
  if (ctx.global.json) {
    await ctx.io.stdout(`${toJsonLine(GetStateResponseSchema, res)}\n`);
    return res.found ? ExitStatus.ok : ExitStatus.negative;
  }
  if (!res.found) {
    ctx.io.stderr(`virtufin: ${service}/${key} has no value\n`);
    return ExitStatus.negative;
  }
  ctx.io.stderr(`etag: ${res.etag}\n`);
  await ctx.io.stdout(`${res.value}\n`);
  return ExitStatus.ok;
}

export async function stateSet(ctx: CommandContext): Promise<number> {
  const [service, key, given] = [arg(ctx, 0), arg(ctx, 1), arg(ctx, 2)];
  // Byte for byte from stdin (a trailing newline stays part of the value).
  const value = given === "-" ? new TextDecoder().decode(await ctx.io.readStdin()) : given;
  const res = await createClient(State, ctx.transport).saveState(
    { service, key, value, etag: ctx.options.etag ?? "", includeValue: ctx.options.includeValue },
    unaryCall(ctx),
  );
  await ctx.io.stdout(ctx.global.json ? `${toJsonLine(SaveStateResponseSchema, res)}\n` : `saved ${service}/${key}\n`);
  return ExitStatus.ok;
}

export async function stateList(ctx: CommandContext): Promise<number> {
  const service = arg(ctx, 0);
  const res = await createClient(State, ctx.transport).getAllState({ service }, unaryCall(ctx));
  if (ctx.global.json) {
    await ctx.io.stdout(`${toJsonLine(GetAllStateResponseSchema, res)}\n`);
  } else if (Object.keys(res.values).length === 0) {
    ctx.io.stderr(`virtufin: ${service} has no state\n`);
  } else {
    await ctx.io.stdout(formatStateTable(res.values, res.etags).join("\n") + "\n");
  }
  return ExitStatus.ok;
}

export async function stateDelete(ctx: CommandContext): Promise<number> {
  const [service, key] = [arg(ctx, 0), arg(ctx, 1)];
  const res = await createClient(State, ctx.transport).deleteState(
    { service, key, etag: ctx.options.etag ?? "", includeValue: ctx.options.includeValue },
    unaryCall(ctx),
  );
  await ctx.io.stdout(ctx.global.json ? `${toJsonLine(DeleteStateResponseSchema, res)}\n` : `deleted ${service}/${key}\n`);
  return ExitStatus.ok;
}

export async function stateRegister(ctx: CommandContext): Promise<number> {
  const service = arg(ctx, 0);
  const keys = ctx.args.slice(1);
  const res = await createClient(State, ctx.transport).registerKeys({ service, keys }, unaryCall(ctx));
  await ctx.io.stdout(
    ctx.global.json
      ? `${toJsonLine(RegisterKeysResponseSchema, res)}\n`
      : `registered ${keys.length} key${keys.length === 1 ? "" : "s"} of ${service}\n`,
  );
  return ExitStatus.ok;
}
