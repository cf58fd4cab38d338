/**
 * What a command handler gets: a transport, the parsed command line, and the outside world
 * (output, stdin, a cancellation signal) behind a small interface so tests and main wire it.
 */
import type { Transport } from "@connectrpc/connect";
import type { CommandOptions, GlobalOptions } from "./args.js";

export interface CliIo {
  /** Writes to stdout; resolves once the text is handed off (waits while the pipe is full). */
  stdout(text: string): Promise<void>;
  stderr(text: string): void;
  /** All of stdin, for the `-` value of `state set` and `publish`. */
  readStdin(): Promise<Uint8Array>;
  /** In [0, 1): the jitter of reconnect delays. */
  random(): number;
}

export interface CommandContext {
  readonly transport: Transport;
  readonly global: GlobalOptions;
  readonly options: CommandOptions;
  readonly args: readonly string[];
  readonly io: CliIo;
  /** Aborted by SIGINT. */
  readonly signal: AbortSignal;
}

/** Call options of a unary call: the deadline, and cancellation on SIGINT. */
export function unaryCall(ctx: CommandContext): { timeoutMs: number; signal: AbortSignal } {
  return { timeoutMs: ctx.global.timeoutMs, signal: ctx.signal };
}

/** Argument i, which the parser has already checked is there. */
export function arg(ctx: CommandContext, i: number): string {
  const value = ctx.args[i];
  if (value === undefined) throw new Error(`missing argument ${i}`);
  return value;
}
