/**
 * `virtufin`: the command-line client of the virtufin-api gateway. bin/virtufin.mjs runs the
 * built copy of this module; `node --import tsx src/cli/main.ts` runs it from source. This module
 * is the CLI's only impure edge: it reads argv, the environment, stdin and SIGINT, and sets the
 * exit status; everything else takes them as arguments.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseCommandLine, type CliEnv, type CommandName } from "./args.js";
import { health } from "./commands/health.js";
import { publish } from "./commands/publish.js";
import { scenarioCommand, scenarioDelete, scenarioList } from "./commands/scenario.js";
import { stateDelete, stateGet, stateList, stateRegister, stateSet } from "./commands/state.js";
import { subscribe } from "./commands/subscribe.js";
import type { CliIo, CommandContext } from "./context.js";
import { ExitStatus, exitStatusOf, formatError } from "./errors.js";
import { createCliTransport } from "./transport.js";

const HANDLERS: Record<CommandName, (ctx: CommandContext) => Promise<number>> = {
  "state get": stateGet,
  "state set": stateSet,
  "state list": stateList,
  "state delete": stateDelete,
  "state register": stateRegister,
  publish,
  subscribe,
  "scenario create": scenarioCommand("create"),
  "scenario get": scenarioCommand("get"),
  "scenario list": scenarioList,
  "scenario pause": scenarioCommand("pause"),
  "scenario resume": scenarioCommand("resume"),
  "scenario archive": scenarioCommand("archive"),
  "scenario delete": scenarioDelete,
  health,
};

/** Runs one command line and resolves with its exit status; never throws. */
export async function runCli(argv: readonly string[], env: CliEnv, io: CliIo, signal: AbortSignal): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv, env);
  } catch (e) {
    io.stderr(`${formatError(e)}\n`);
    return exitStatusOf(e);
  }
  if (parsed.kind === "help") {
    await io.stdout(parsed.text);
    return ExitStatus.ok;
  }
  const { global } = parsed;
  const ctx: CommandContext = {
    transport: createCliTransport(global),
    global,
    options: parsed.options,
    args: parsed.args,
    io,
    signal,
  };
  try {
    return await HANDLERS[parsed.command](ctx);
  } catch (e) {
    if (signal.aborted) return ExitStatus.interrupted;
    io.stderr(`${formatError(e, global)}\n`);
    return exitStatusOf(e);
  }
}

/** The process's own io: stdout with backpressure, stderr, stdin, Math.random. */
function processIo(onClosedStdout: () => void): CliIo {
  // A reader that went away (`virtufin subscribe | head -1`) ends the command quietly.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") onClosedStdout();
    else throw e;
  });
  return {
    stdout: (text) =>
      new Promise((resolve) => {
        if (process.stdout.write(text)) resolve();
        else process.stdout.once("drain", resolve);
      }),
    stderr: (text) => void process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return new Uint8Array(Buffer.concat(chunks));
    },
    random: Math.random,
  };
}

/** Entry point used by bin/virtufin.mjs: sets process.exitCode and lets the event loop drain. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once("SIGINT", onSigint);
  const env: CliEnv = {
    VIRTUFIN_API_HOST: process.env.VIRTUFIN_API_HOST,
    VIRTUFIN_API_GRPC_PORT: process.env.VIRTUFIN_API_GRPC_PORT,
    VIRTUFIN_API_TOKEN: process.env.VIRTUFIN_API_TOKEN,
  };
  try {
    process.exitCode = await runCli(argv, env, processIo(() => abort.abort()), abort.signal);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

/** True when this file is the script node was started with (not imported by the launcher). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
