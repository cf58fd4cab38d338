/**
 * When `subscribe` reconnects: which stream errors are worth retrying, and how long to wait.
 */
import { Code } from "@connectrpc/connect";

export const RECONNECT_INITIAL_MS = 1000;
export const RECONNECT_MAX_MS = 15_000;

/**
 * Errors that another attempt cannot fix: the request itself is wrong or not allowed. Everything
 * else (unavailable, a reset connection, a slow-consumer cut, an internal error) is retried.
 */
const PERMANENT = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
]);

export function isPermanent(code: Code): boolean {
  return PERMANENT.has(code);
}

/**
 * Capped exponential backoff with "equal jitter": attempt 0 waits 0.5-1 s, attempt 1 1-2 s, ...
 * up to 7.5-15 s. The jitter keeps many clients from reconnecting to a restarted gateway at once;
 * the half that is kept keeps a client from hammering it. `random` is in [0, 1).
 */
export function reconnectDelayMs(attempt: number, random: number, initialMs = RECONNECT_INITIAL_MS, maxMs = RECONNECT_MAX_MS): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
