/**
 * One log line per RPC: method, status code, duration, caller and trace id (when a traceparent
 * came in), and the same call counted in the RPC metrics. Streams are logged when they end.
 * Credentials never reach the log.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { identityKey } from "../auth/access-control.js";
import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";

export function rpcLogInterceptor(logger: Logger, metrics?: GatewayMetrics): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const method = `${req.service.typeName}/${req.method.name}`;
    const traceId = /^[\da-f]{2}-([\da-f]{32})-/.exec(req.header.get("traceparent") ?? "")?.[1];
    const line = (code: Code) => {
      const codeName = code === (0 as Code) ? "ok" : Code[code];
      const durationMs = Math.round((performance.now() - started) * 10) / 10;
      metrics?.rpc(method, codeName, durationMs);
      logger.info(
        {
          method,
          code: codeName,
          durationMs,
          caller: req.contextValues.get(identityKey)?.service,
          ...(traceId === undefined ? {} : { traceId }),
        },
        "rpc",
      );
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        line(0 as Code);
        return res;
      }
      return { ...res, message: logWhenDone(res.message, line) };
    } catch (err) {
      line(ConnectError.from(err).code);
      throw err;
    }
  };
}

async function* logWhenDone<T>(source: AsyncIterable<T>, line: (code: Code) => void): AsyncGenerator<T> {
  let code = 0 as Code;
  try {
    yield* source;
  } catch (err) {
    code = ConnectError.from(err).code;
    throw err;
  } finally {
    line(code);
  }
}
