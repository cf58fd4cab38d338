/**
 * grpc.health.v1.Health: "" is the gateway as a whole; each of our services can be asked by its
 * full name; any other name is NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch), as the protocol says.
 * A Watch ends with UNAVAILABLE once it has reported NOT_SERVING for a shutdown.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import type { Readiness } from "../health/readiness.js";

export function createHealthHandlers(readiness: Readiness, serviceNames: readonly string[]): ServiceImpl<typeof Health> {
  const known = new Set(["", ...serviceNames]);
  const current = () => (readiness.ready ? Status.SERVING : Status.NOT_SERVING);
  return {
    async check(req) {
      if (!known.has(req.service)) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return { status: current() };
    },

    async *watch(req, ctx) {
      if (!known.has(req.service)) {
        yield { status: Status.SERVICE_UNKNOWN };
        return;
      }
      let last = current();
      yield { status: last };
      let wake: (() => void) | undefined;
      const off = readiness.onChange(() => wake?.());
      const onAbort = () => wake?.();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      try {
        // Compare before each wait: a change that happened while the client was not reading is
        // still sent (wake-ups alone would be lost then).
        while (!ctx.signal.aborted) {
          const now = current();
          if (now !== last) {
            last = now;
            yield { status: now };
            continue;
          }
          // Shutdown: NOT_SERVING has been sent; end like every other stream, so the client
          // reconnects to another replica instead of watching one that is going away.
          if (readiness.isShuttingDown) throw new ConnectError("the gateway is shutting down; reconnect", Code.Unavailable);
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        off();
        ctx.signal.removeEventListener("abort", onAbort);
      }
    },
  };
}
