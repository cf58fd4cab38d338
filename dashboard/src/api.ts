/**
 * The gateway's API as the page uses it: Connect (JSON) over fetch to the origin that served the
 * page, a bearer token when one was entered, and the plain HTTP endpoints /readyz and /metrics.
 */
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { Gateway } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { Scenarios } from "../../gen/virtufin/api/v1/scenarios_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";

/** The gateway's root: the page lives at <root>/dashboard/, so this also works behind a path prefix. */
const apiRoot = new URL("../", location.href);

export function apiUrl(path: string): string {
  return new URL(path, apiRoot).href;
}

const TOKEN_KEY = "virtufin-dashboard-token";

type AuthListener = () => void;

/** The bearer token (kept for this tab only) and who wants to know when a new one is needed or given. */
export const auth = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? "",
  /** The message of the UNAUTHENTICATED error that asked for a token, while one is needed. */
  needed: undefined as string | undefined,
  onNeeded: new Set<AuthListener>(),
  onToken: new Set<AuthListener>(),

  setToken(token: string): void {
    this.token = token.trim();
    if (this.token === "") sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, this.token);
    this.needed = undefined;
    for (const l of this.onToken) l();
  },

  require(message: string): void {
    const first = this.needed === undefined;
    this.needed = message;
    if (first) for (const l of this.onNeeded) l();
  },
};

const bearer: Interceptor = (next) => (req) => {
  if (auth.token !== "") req.header.set("authorization", `Bearer ${auth.token}`);
  return next(req);
};

const transport = createConnectTransport({
  baseUrl: apiRoot.href.replace(/\/$/, ""),
  useBinaryFormat: false,
  interceptors: [bearer],
});

export const gateway = createClient(Gateway, transport);
export const state = createClient(State, transport);
export const pubsub = createClient(Pubsub, transport);
export const scenarios = createClient(Scenarios, transport);
export const health = createClient(Health, transport);

/**
 * One line for the user about a failed call. An UNAUTHENTICATED error also asks for a token
 * (the prompt appears once, however many calls failed).
 */
export function describeError(err: unknown): string {
  const e = ConnectError.from(err);
  if (e.code === Code.Unauthenticated) auth.require(e.rawMessage);
  return `${Code[e.code]?.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase() ?? e.code}: ${e.rawMessage}`;
}

export function isCode(err: unknown, code: Code): boolean {
  return ConnectError.from(err).code === code;
}

export { Code };

export interface Readiness {
  readonly status: string;
  readonly waitingFor: readonly string[];
  readonly auth: string;
}

export async function fetchReadiness(signal?: AbortSignal): Promise<Readiness> {
  const res = await fetch(apiUrl("readyz"), { cache: "no-store", ...(signal ? { signal } : {}) });
  const body = (await res.json()) as Partial<Readiness>;
  return { status: body.status ?? `HTTP ${res.status}`, waitingFor: body.waitingFor ?? [], auth: body.auth ?? "unknown" };
}

export async function fetchMetrics(signal?: AbortSignal): Promise<string> {
  const res = await fetch(apiUrl("metrics"), { cache: "no-store", ...(signal ? { signal } : {}) });
  if (!res.ok) throw new Error(`/metrics answered HTTP ${res.status}`);
  return res.text();
}
