/**
 * Access control at the edge: an interceptor proves who the caller is (when credentials are
 * configured) and puts the Identity in the call's context values; handlers ask the policy and
 * refuse through `refuse`, which audits every denial once (log line and counter).
 */
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "../observability/logger.js";
import { AuthError, type Identity } from "./identity.js";
import type { Policy } from "./policy.js";

export const identityKey = createContextKey<Identity | undefined>(undefined, { description: "the proven caller" });

/** Services that answer without credentials (probes must work before a token exists). */
const UNAUTHENTICATED_SERVICES = new Set(["grpc.health.v1.Health"]);

/** What the audit needs of a call: a HandlerContext, or the same fields of an interceptor's request. */
export type CallInfo = Pick<HandlerContext, "service" | "method" | "values">;

export interface Audit {
  /** Logs and counts a refused call; returns the error to throw. */
  refuse(call: CallInfo, target: string, rule: string, message: string, code?: Code): ConnectError;
  readonly denied: number;
}

export function createAudit(logger: Logger): Audit {
  let denied = 0;
  return {
    get denied() {
      return denied;
    },
    refuse(call, target, rule, message, code = Code.PermissionDenied) {
      denied++;
      const caller = call.values.get(identityKey)?.service ?? "(unproven)";
      logger.warn({ caller, method: `${call.service.typeName}/${call.method.name}`, target, rule, code: Code[code] }, "call denied");
      return new ConnectError(message, code);
    },
  };
}

export function authInterceptor(policy: Policy, audit: Audit, logger: Logger): Interceptor {
  return (next) => async (req) => {
    const authenticate = policy.authenticate;
    if (authenticate === undefined || UNAUTHENTICATED_SERVICES.has(req.service.typeName)) return next(req);
    try {
      const identity = await authenticate(req.header.get("authorization"));
      req.contextValues.set(identityKey, identity);
    } catch (err) {
      const message = err instanceof AuthError ? err.message : "authentication failed";
      if (!(err instanceof AuthError)) logger.error({ err }, "authentication error");
      throw audit.refuse({ service: req.service, method: req.method, values: req.contextValues }, "(credentials)", "authentication", message, Code.Unauthenticated);
    }
    return next(req);
  };
}
