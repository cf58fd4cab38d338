/** `virtufin publish`: Pubsub.PublishEvent, CloudEvents attributes as ce-* metadata. */
import { createClient } from "@connectrpc/connect";
import { Pubsub, PublishEventResponseSchema } from "../../../gen/virtufin/api/v1/pubsub_pb.js";
import type { CommandOptions } from "../args.js";
import { arg, unaryCall, type CommandContext } from "../context.js";
import { ExitStatus, UsageError } from "../errors.js";
import { toJsonLine } from "../format.js";

/**
 * The metadata of a publish: each `--meta k=v` (split at the first "="), then --type, --source and
 * --id as ce-type, ce-source and ce-id. Giving one entry twice is a usage error, not a silent
 * overwrite. The gateway validates the keys and fills the attributes left out.
 */
export function publishMetadata(options: Pick<CommandOptions, "meta" | "type" | "source" | "id">): Record<string, string> {
  const metadata: Record<string, string> = {};
  const put = (key: string, value: string, from: string) => {
    if (Object.hasOwn(metadata, key)) throw new UsageError(`metadata "${key}" is given twice (${from})`);
    metadata[key] = value;
  };
  for (const entry of options.meta) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new UsageError(`--meta "${entry}" is not key=value`);
    put(entry.slice(0, eq), entry.slice(eq + 1), `--meta ${entry}`);
  }
  const [type] = options.type;
  if (type !== undefined) put("ce-type", type, "--type");
  if (options.source !== undefined) put("ce-source", options.source, "--source");
  if (options.id !== undefined) put("ce-id", options.id, "--id");
  return metadata;
}

export async function publish(ctx: CommandContext): Promise<number> {
  const [service, topic, given] = [arg(ctx, 0), arg(ctx, 1), arg(ctx, 2)];
  const metadata = publishMetadata(ctx.options);
  const data = given === "-" ? await ctx.io.readStdin() : new TextEncoder().encode(given);
  const res = await createClient(Pubsub, ctx.transport).publishEvent({ service, topic, data, metadata }, unaryCall(ctx));
  await ctx.io.stdout(ctx.global.json ? `${toJsonLine(PublishEventResponseSchema, res)}\n` : `${res.messageId}\n`);
  return ExitStatus.ok;
}
