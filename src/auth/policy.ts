/**
 * The policy file (--policy-file): credentials, per-service permissions and topic namespaces in
 * one JSON document, validated once at start-up. Without one the gateway runs open: every caller
 * may act as any service (topic namespaces and scenario rules still apply).
 *
 * { "auth": { "tokens": [...], "jwt": {...} }, "permissions": { "services": {...} }, "namespaces": [...] }
 */
import { readFileSync } from "node:fs";
import { DEFAULT_NAMESPACES, parseNamespaces, type Namespace } from "../topics/namespaces.js";
import { createAuthenticator, openIdentity, parseAuthConfig, type Authenticator, type Identity } from "./identity.js";
import { openPermissions, parsePermissions, permissionsOf, type PermissionsTable, type ServicePermissions } from "./permissions.js";
import { isRecord, rejectUnknownKeys } from "./raw.js";

export interface Policy {
  /** True when no credentials are configured: callers are trusted to name their service. */
  readonly open: boolean;
  readonly namespaces: readonly Namespace[];
  /** Proves who the caller is from its `authorization` header; undefined when open. */
  readonly authenticate: Authenticator | undefined;
  /** The identity of a caller: the proven one, or in open mode the service it names. */
  identityOf(proven: Identity | undefined, requestedService: string): Identity;
  permissionsOf(identity: Identity): ServicePermissions;
}

export class PolicyFileError extends Error {
  override readonly name = "PolicyFileError";
}

export function openPolicy(): Policy {
  return buildPolicy(undefined, undefined, DEFAULT_NAMESPACES);
}

export function loadPolicyFile(path: string, knownServices: readonly string[]): Policy {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new PolicyFileError(`policy file ${path}: ${(err as Error).message}`);
  }
  try {
    return parsePolicy(raw, knownServices);
  } catch (err) {
    throw new PolicyFileError(`policy file ${path}: ${(err as Error).message}`);
  }
}

export function parsePolicy(raw: unknown, knownServices: readonly string[]): Policy {
  if (!isRecord(raw)) throw new Error("expected a JSON object");
  rejectUnknownKeys(raw, ["auth", "permissions", "namespaces"], "policy", (why) => new Error(why));
  const auth = parseAuthConfig(raw["auth"]);
  const table = raw["permissions"] === undefined ? undefined : parsePermissions(raw["permissions"], knownServices);
  const namespaces = raw["namespaces"] === undefined ? DEFAULT_NAMESPACES : parseNamespaces(raw["namespaces"]);
  return buildPolicy(auth === undefined ? undefined : createAuthenticator(auth), table, namespaces);
}

/** Services whose open-mode permissions are kept (names come from requests, so the cache is bounded). */
const OPEN_PERMISSIONS_CACHE = 1024;

function buildPolicy(authenticate: Authenticator | undefined, table: PermissionsTable | undefined, namespaces: readonly Namespace[]): Policy {
  const open = authenticate === undefined;
  // Every idle subscriber keeps its permissions: share one object per service instead of one per call.
  const openByService = new Map<string, ServicePermissions>();
  const openPermissionsOf = (service: string): ServicePermissions => {
    let p = openByService.get(service);
    if (p === undefined) {
      if (openByService.size >= OPEN_PERMISSIONS_CACHE) openByService.clear();
      openByService.set(service, (p = openPermissions(service)));
    }
    return p;
  };
  return {
    open,
    namespaces,
    authenticate,
    identityOf: (proven, requestedService) => proven ?? openIdentity(requestedService),
    permissionsOf: (identity) =>
      identity.via === "open" ? openPermissionsOf(identity.service) : permissionsOf(table ?? { services: new Map() }, identity),
  };
}
