/**
 * The error boundary: every error leaving a handler becomes a ConnectError with a deliberate
 * code; internal causes are logged with the method, never sent to the client.
 */
import { ConnectError, Code, type Interceptor } from "@connectrpc/connect";
import { toConnectError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { rpcName } from "./rpc-name.js";
import { whenStreamEnds } from "./stream-end.js";

export function errorBoundary(logger: Logger): Interceptor {
  const map = (method: string, err: unknown): ConnectError => {
    const mapped = toConnectError(err);
    if (mapped.code === Code.Internal && !(err instanceof ConnectError)) {
      logger.error({ method, err }, "internal error");
    }
    return mapped;
  };
  return (next) => async (req) => {
    const method = rpcName(req.service, req.method);
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: whenStreamEnds(res.message, (failed, e) => (failed ? map(method, e) : undefined)) };
    } catch (err) {
      throw map(method, err);
    }
  };
}
