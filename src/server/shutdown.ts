/**
 * Graceful shutdown at the RPC layer: once shutdown begins, new calls are refused with
 * UNAVAILABLE (clients retry on another replica) while calls already running are counted, so
 * the server can wait for them before it sends GOAWAY and closes connections.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** Health checks keep answering (NOT_SERVING) during shutdown. */
const ALWAYS_ANSWERED = new Set(["grpc.health.v1.Health"]);

export interface InFlightCalls {
  readonly interceptor: Interceptor;
  /** Resolves when no unary call is running, or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void>;
}

export function createInFlightCalls(isShuttingDown: () => boolean): InFlightCalls {
  let running = 0;
  let onIdle: (() => void) | undefined;
  const interceptor: Interceptor = (next) => async (req) => {
    if (isShuttingDown() && !ALWAYS_ANSWERED.has(req.service.typeName)) {
      throw new ConnectError("the gateway is shutting down; retry on another replica", Code.Unavailable);
    }
    if (req.stream) return next(req); // streams are ended by the subscription manager
    running++;
    try {
      return await next(req);
    } finally {
      running--;
      if (running === 0) onIdle?.();
    }
  };
  return {
    interceptor,
    drained(timeoutMs) {
      if (running === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}
