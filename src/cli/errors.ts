/**
 * Exit statuses and the one-line error messages of the virtufin CLI. Pure: a caller turns an
 * error into text and a status, and prints them.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** Exit statuses, documented in docs/cli.md. */
export const ExitStatus = {
  ok: 0,
  /** The gateway answered with an error, or could not be reached. */
  rpcError: 1,
  /** The command line was wrong (unknown command or option, missing argument, bad value). */
  usage: 2,
  /** The call worked but the answer is negative: `state get` of a key without a value, `health` not SERVING. */
  negative: 3,
  /** Interrupted by SIGINT during a unary call (as shells report 128 + SIGINT). */
  interrupted: 130,
} as const;

/** A mistake on the command line: printed with a hint to --help, exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Connect's name of a code: "aborted", "deadline_exceeded", "permission_denied", ... */
export function codeName(code: Code): string {
  const pascal = Code[code] as string | undefined;
  if (pascal === undefined) return `code_${code}`;
  return pascal.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** Folds newlines and runs of spaces so every message fits on one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

export interface ErrorContext {
  /** Where the CLI tried to reach the gateway; named when it could not be reached. */
  readonly baseUrl?: string;
  readonly protocol?: string;
}

/**
 * One readable line for any error: `virtufin: aborted: etag mismatch ... (code 10)`, with Connect's
 * code name and the gRPC numeric code. An unreachable gateway also names the address tried.
 */
export function formatError(err: unknown, context: ErrorContext = {}): string {
  if (err instanceof UsageError) return `virtufin: ${oneLine(err.message)} (see virtufin --help)`;
  if (err instanceof ConnectError) {
    const message = oneLine(err.rawMessage) || "(no message)";
    const where =
      err.code === Code.Unavailable && context.baseUrl !== undefined
        ? ` [gateway ${context.baseUrl}${context.protocol !== undefined ? ` over ${context.protocol}` : ""}]`
        : "";
    return `virtufin: ${codeName(err.code)}: ${message} (code ${err.code})${where}`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return `virtufin: error: ${oneLine(message)}`;
}

/** The exit status for an error that ended a command. */
export function exitStatusOf(err: unknown): number {
  return err instanceof UsageError ? ExitStatus.usage : ExitStatus.rpcError;
}
