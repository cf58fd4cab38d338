/**
 * CORS for browser clients (gRPC-Web and Connect), from a configured list of origins.
 * An allowed origin is echoed back (never "*" together with credentials) with `Vary: Origin`;
 * a foreign origin gets no CORS headers, so the browser blocks it.
 */
import { cors as connectCors } from "@connectrpc/connect";

const ALLOW_METHODS = connectCors.allowedMethods.join(", ");
const ALLOW_HEADERS = [...connectCors.allowedHeaders, "Authorization", "Traceparent", "Tracestate"].join(", ");
const EXPOSE_HEADERS = connectCors.exposedHeaders.join(", ");
const MAX_AGE_SECONDS = "7200";

export interface CorsDecision {
  /** Headers to add to the response. */
  readonly headers: Record<string, string>;
  /** True when this was a preflight request that has now been fully answered. */
  readonly preflight: boolean;
}

export function corsHeaders(
  allowedOrigins: readonly string[],
  method: string,
  origin: string | undefined,
  requestsPreflight: boolean,
): CorsDecision {
  const preflight = method === "OPTIONS" && requestsPreflight;
  if (origin === undefined) return { headers: {}, preflight };
  const allowed = allowedOrigins.includes("*") || allowedOrigins.includes(origin);
  if (!allowed) return { headers: { vary: "Origin" }, preflight };
  const headers: Record<string, string> = {
    "access-control-allow-origin": origin,
    "access-control-allow-credentials": "true",
    vary: "Origin",
  };
  if (preflight) {
    headers["access-control-allow-methods"] = ALLOW_METHODS;
    headers["access-control-allow-headers"] = ALLOW_HEADERS;
    headers["access-control-max-age"] = MAX_AGE_SECONDS;
  } else {
    headers["access-control-expose-headers"] = EXPOSE_HEADERS;
  }
  return { headers, preflight };
}
