/**
 * One log line per RPC: method, status code, duration, caller and trace id (when a traceparent
 * came in), and the same call counted in the RPC metrics. Streams are logged when they end.
 * Credentials never reach the log.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { identityKey } from "../auth/access-control.js";
import { rpcName } from "../server/rpc-name.js";
import { whenStreamEnds } from "../server/stream-end.js";
import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";

export function rpcLogInterceptor(logger: Logger, metrics?: GatewayMetrics): Interceptor {
  return (next) => async (req) => {
    const call = new RpcCallLog(logger, metrics, req);
    try {
      const res = await next(req);
      if (!res.stream) {
        call.line(0 as Code);
        return res;
      }
      return {
        ...res,
        message: whenStreamEnds(res.message, (failed, err) => {
          call.line(failed ? ConnectError.from(err).code : (0 as Code));
          return err;
        }),
      };
    } catch (err) {
      call.line(ConnectError.from(err).code);
      throw err;
    }
  };
}

/** What the log line of a call needs until the call ends (an object, not a closure per call). */
class RpcCallLog {
  private readonly started = performance.now();
  private readonly method: string;
  private readonly traceId: string | undefined;
  private readonly values: ContextValues;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics | undefined,
    req: { readonly service: DescService; readonly method: DescMethod; readonly header: Headers; readonly contextValues: ContextValues },
  ) {
    this.method = rpcName(req.service, req.method);
    this.traceId = /^[\da-f]{2}-([\da-f]{32})-/.exec(req.header.get("traceparent") ?? "")?.[1];
    this.values = req.contextValues;
  }

  line(code: Code): void {
    const { method, traceId } = this;
    const codeName = code === (0 as Code) ? "ok" : Code[code];
    const durationMs = Math.round((performance.now() - this.started) * 10) / 10;
    this.metrics?.rpc(method, codeName, durationMs);
    this.logger.info(
      {
        method,
        code: codeName,
        durationMs,
        caller: this.values.get(identityKey)?.service,
        ...(traceId === undefined ? {} : { traceId }),
      },
      "rpc",
    );
  }
}
