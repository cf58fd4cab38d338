/**
 * `virtufin subscribe`: Gateway.Subscribe, one line per event, until Ctrl-C. A broken stream is
 * reopened with capped exponential backoff and jitter (said on stderr); an error another attempt
 * cannot fix ends the command with one line and exit status 1.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Gateway } from "../../../gen/virtufin/api/v1/gateway_pb.js";
import type { CommandOptions } from "../args.js";
import { isPermanent, reconnectDelayMs } from "../backoff.js";
import type { CommandContext } from "../context.js";
import { codeName, ExitStatus, formatError, oneLine } from "../errors.js";
import { formatEvent, formatEventJson } from "../format.js";

/**
 * How long a stream must stay open after its response headers before the CLI says it is
 * subscribed. The gateway registers the subscription and then sends the headers, but a refused
 * request (bad filter, no permission) also gets headers, right before its error; waiting a moment
 * keeps "subscribed" from being printed just before the error. An event arriving settles it at once.
 */
export const ANNOUNCE_AFTER_MS = 150;

export function subscribeRequest(options: Pick<CommandOptions, "service" | "topic" | "type">) {
  return { services: [...options.service], topics: [...options.topic], eventTypes: [...options.type] };
}

export async function subscribe(ctx: CommandContext): Promise<number> {
  const client = createClient(Gateway, ctx.transport);
  const request = subscribeRequest(ctx.options);
  const format = ctx.global.json ? formatEventJson : formatEvent;
  const where = `${ctx.global.baseUrl} (${ctx.global.protocol})`;
  let delivered = 0;
  let attempt = 0;
  let connectedBefore = false;

  while (!ctx.signal.aborted) {
    let failure: ConnectError;
    let announceTimer: NodeJS.Timeout | undefined;
    // Says "subscribed" (or "reconnected") once per stream, and only then resets the backoff: a
    // gateway that answers and fails at once must not be retried in a tight loop.
    const announce = () => {
      if (announceTimer === undefined) return;
      clearTimeout(announceTimer);
      announceTimer = undefined;
      ctx.io.stderr(`virtufin: ${connectedBefore ? "reconnected" : "subscribed"} at ${where}\n`);
      connectedBefore = true;
      attempt = 0;
    };
    // One controller per stream, so that leaving early (--max-events) really cancels the call:
    // returning from the loop alone leaves an HTTP/1.1 request open and the process alive.
    const streamAbort = new AbortController();
    const onAbort = () => streamAbort.abort();
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const stream = client.subscribe(request, {
        signal: streamAbort.signal,
        onHeader: () => {
          announceTimer = setTimeout(announce, ANNOUNCE_AFTER_MS);
        },
      });
      for await (const event of stream) {
        announce();
        await ctx.io.stdout(`${format(event)}\n`);
        delivered++;
        if (ctx.options.maxEvents !== undefined && delivered >= ctx.options.maxEvents) return ExitStatus.ok;
      }
      failure = new ConnectError("the gateway ended the stream", Code.Unavailable);
    } catch (e) {
      if (ctx.signal.aborted) break;
      failure = ConnectError.from(e);
    } finally {
      clearTimeout(announceTimer);
      announceTimer = undefined;
      ctx.signal.removeEventListener("abort", onAbort);
      streamAbort.abort();
    }
    if (isPermanent(failure.code) || ctx.options.noReconnect) {
      ctx.io.stderr(`${formatError(failure, ctx.global)}\n`);
      return ExitStatus.rpcError;
    }
    const delay = reconnectDelayMs(attempt++, ctx.io.random());
    ctx.io.stderr(`virtufin: reconnecting in ${(delay / 1000).toFixed(1)}s (${codeName(failure.code)}: ${oneLine(failure.rawMessage)})\n`);
    await sleep(delay, ctx.signal);
  }
  // Ctrl-C is how a subscription is meant to end.
  return ExitStatus.ok;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
