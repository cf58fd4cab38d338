/**
 * Per-service permissions in the style of NATS authorization, and the decisions made from them.
 *
 * Publish and subscribe each have allow and deny lists of subject patterns (`*` one token, `>`
 * the rest, `{self}` the service's own name); deny wins, and a subject no allow pattern matches
 * is refused. State: a service reads and writes its own state only, unless granted read access to
 * another's (`stateRead`) or it is admin.
 *
 * Raw JSON (every field optional; a list given replaces its default, it is not merged):
 * ```json
 * {
 *   "services": {
 *     "workmanager": {
 *       "publish":   { "allow": ["{self}.*", "md.>"], "deny": ["md.internal.>"] },
 *       "subscribe": { "allow": [">"], "deny": ["sc.*.secret.>"] },
 *       "stateRead": ["websocketmanager"],
 *       "admin": false
 *     }
 *   }
 * }
 * ```
 * Defaults: publish allow ["{self}.*"], deny []; subscribe allow [">"], deny []; stateRead [];
 * admin false. `stateRead: ["*"]` grants read access to every service's state.
 */
import { STATE_CHANGES_TOPIC } from "../topics/topics.js";
import type { Identity } from "./identity.js";
import { clip, isRecord, rejectUnknownKeys } from "./raw.js";
import { expandSelf, hasWildcard, patternCovers, patternProblem, subjectMatches, TAIL_TOKEN } from "./subjects.js";

export interface SubjectRules {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

export interface ServicePermissions {
  /** The service these permissions belong to ({self} is already expanded to it). */
  readonly service: string;
  readonly publish: SubjectRules;
  readonly subscribe: SubjectRules;
  /** Other services whose state this one may read; "*" means every service. */
  readonly stateRead: readonly string[];
  readonly admin: boolean;
}

/** The raw JSON shape of one service's entry; every field is optional. */
export interface RawServicePermissions {
  readonly publish?: Partial<SubjectRules>;
  readonly subscribe?: Partial<SubjectRules>;
  readonly stateRead?: readonly string[];
  readonly admin?: boolean;
}

/** The raw JSON shape of the permissions file / config section. */
export interface PermissionsConfig {
  readonly services: Readonly<Record<string, RawServicePermissions>>;
}

/** Validated permissions; patterns still hold `{self}` until permissionsFor expands them. */
export interface PermissionsTable {
  readonly services: ReadonlyMap<string, Omit<ServicePermissions, "service">>;
}

export type Decision = { readonly ok: true } | { readonly ok: false; readonly rule: string; readonly message: string };

export const DEFAULT_PUBLISH: SubjectRules = Object.freeze({ allow: Object.freeze(["{self}.*"]), deny: Object.freeze([]) });
export const DEFAULT_SUBSCRIBE: SubjectRules = Object.freeze({ allow: Object.freeze([">"]), deny: Object.freeze([]) });

/** Everything allowed: the permissions of a caller when the gateway runs open. */
export function openPermissions(service: string): ServicePermissions {
  return {
    service,
    publish: { allow: [">"], deny: [] },
    subscribe: { allow: [">"], deny: [] },
    stateRead: ["*"],
    admin: true,
  };
}

export class PermissionsConfigError extends Error {
  override readonly name = "PermissionsConfigError";
}

const OK: Decision = Object.freeze({ ok: true });
const deny = (rule: string, message: string): Decision => ({ ok: false, rule, message });

/** Validates raw permissions; throws PermissionsConfigError naming the bad entry. */
export function parsePermissions(raw: unknown, knownServices: readonly string[]): PermissionsTable {
  const fail = (why: string) => new PermissionsConfigError(`permissions: ${why}`);
  const services = new Map<string, Omit<ServicePermissions, "service">>();
  if (raw === undefined || raw === null) return { services };
  if (!isRecord(raw)) throw fail('expected {"services": {"<service>": {...}}}');
  rejectUnknownKeys(raw, ["services"], "permissions", fail);
  const entries = raw["services"] ?? {};
  if (!isRecord(entries)) throw fail('"services" must be an object keyed by service name');
  for (const [name, entry] of Object.entries(entries)) {
    const at = `services.${clip(name)}`;
    if (!knownServices.includes(name)) throw fail(`${at}: unknown service "${clip(name)}" (it has no entry in services.json)`);
    if (!isRecord(entry)) throw fail(`${at} must be an object`);
    rejectUnknownKeys(entry, ["publish", "subscribe", "stateRead", "admin"], at, fail);
    const rules = (field: "publish" | "subscribe", defaults: SubjectRules): SubjectRules => {
      const r = entry[field];
      if (r === undefined) return defaults;
      if (!isRecord(r)) throw fail(`${at}.${field} must be an object with allow and/or deny`);
      rejectUnknownKeys(r, ["allow", "deny"], `${at}.${field}`, fail);
      return {
        allow: patterns(r["allow"], defaults.allow, `${at}.${field}.allow`),
        deny: patterns(r["deny"], defaults.deny, `${at}.${field}.deny`),
      };
    };
    const patterns = (v: unknown, fallback: readonly string[], where: string): readonly string[] => {
      if (v === undefined) return fallback;
      if (!Array.isArray(v)) throw fail(`${where} must be a list of subject patterns`);
      for (const [i, p] of v.entries()) {
        if (typeof p !== "string") throw fail(`${where}[${i}] is not a string`);
        const problem = patternProblem(p);
        if (problem !== undefined) throw fail(`${where}[${i}]: ${problem}`);
      }
      return Object.freeze([...(v as string[])]);
    };
    const stateRead = entry["stateRead"] ?? [];
    if (!Array.isArray(stateRead)) throw fail(`${at}.stateRead must be a list of service names`);
    for (const [i, s] of stateRead.entries()) {
      if (s !== "*" && (typeof s !== "string" || !knownServices.includes(s))) {
        throw fail(`${at}.stateRead[${i}]: ${typeof s === "string" ? `unknown service "${clip(s)}"` : "is not a string"}`);
      }
    }
    const admin = entry["admin"] ?? false;
    if (typeof admin !== "boolean") throw fail(`${at}.admin must be true or false`);
    services.set(name, {
      publish: rules("publish", DEFAULT_PUBLISH),
      subscribe: rules("subscribe", DEFAULT_SUBSCRIBE),
      stateRead: Object.freeze([...(stateRead as string[])]),
      admin,
    });
  }
  return { services };
}

/** The permissions of one service, defaults filled in and `{self}` expanded. */
export function permissionsFor(table: PermissionsTable, service: string): ServicePermissions {
  const p = table.services.get(service);
  const expand = (r: SubjectRules): SubjectRules => ({
    allow: r.allow.map((x) => expandSelf(x, service)),
    deny: r.deny.map((x) => expandSelf(x, service)),
  });
  return {
    service,
    publish: expand(p?.publish ?? DEFAULT_PUBLISH),
    subscribe: expand(p?.subscribe ?? DEFAULT_SUBSCRIBE),
    stateRead: p?.stateRead ?? [],
    admin: p?.admin ?? false,
  };
}

/** The permissions of an authenticated caller: its service's, admin if either grants it. */
export function permissionsOf(table: PermissionsTable, identity: Identity): ServicePermissions {
  const p = permissionsFor(table, identity.service);
  return identity.admin && !p.admin ? { ...p, admin: true } : p;
}

/** Deny wins; `rule` names what decided. */
export function allowedBy(rules: SubjectRules, subject: string): { allowed: boolean; rule: string } {
  for (const d of rules.deny) if (subjectMatches(d, subject)) return { allowed: false, rule: `deny "${d}"` };
  for (const a of rules.allow) if (subjectMatches(a, subject)) return { allowed: true, rule: `allow "${a}"` };
  return { allowed: false, rule: "no allow pattern matches" };
}

/** The `service` field of a request must be the caller's own service unless the caller is admin. */
export function canActAs(identity: Identity, requestedService: string): Decision {
  if (identity.admin || identity.service === requestedService) return OK;
  return deny(
    "service must match identity",
    `caller is "${identity.service}" but the request names service "${clip(requestedService)}"; only an admin may act as another service`,
  );
}

export function canWriteState(identity: Identity, service: string): Decision {
  if (identity.admin || identity.service === service) return OK;
  return deny(
    "state: own service only",
    `"${identity.service}" may not write the state of "${clip(service)}": a service writes only its own state`,
  );
}

export function canReadState(identity: Identity, perms: ServicePermissions, service: string): Decision {
  if (identity.admin || identity.service === service || readsState(perms, service)) return OK;
  return deny(
    "state: own service or stateRead grant",
    `"${identity.service}" may not read the state of "${clip(service)}": grant it with stateRead`,
  );
}

function readsState(perms: ServicePermissions, service: string): boolean {
  return perms.admin || perms.service === service || perms.stateRead.includes(service) || perms.stateRead.includes("*");
}

/**
 * Whether a subscriber may receive an event: its topic must be allowed by the subscriber's
 * subscribe rules, and a state change (event type `state`, topic `state-changes`) also needs read
 * access to the state of the service it is about.
 */
export function canSeeEvent(perms: ServicePermissions, event: { readonly service: string; readonly topic: string; readonly eventType: string }): boolean {
  if (!allowedBy(perms.subscribe, event.topic).allowed) return false;
  if (event.eventType === "state" || event.topic === STATE_CHANGES_TOPIC) return readsState(perms, event.service);
  return true;
}

export interface FilterRequest {
  readonly services: Iterable<string>;
  readonly topics: Iterable<string>;
  readonly eventTypes: Iterable<string>;
}

/**
 * Rejects at call start a Subscribe filter the caller may not use, instead of serving a silently
 * empty or filtered stream:
 * - every topic named must be allowed by the subscribe rules; a topic with wildcards must be
 *   covered by an allow pattern and not entirely by a deny pattern (events on the denied part of
 *   it are still filtered out by canSeeEvent, as NATS does);
 * - no topics at all means every topic (the global scope), which needs an allow pattern `>`;
 * - a filter that can only yield state changes (topics exactly `state-changes`, or event types
 *   exactly `state`) may name only services whose state the caller may read.
 */
export function checkSubscribeFilter(perms: ServicePermissions, filter: FilterRequest): Decision {
  const topics = [...new Set(filter.topics)];
  const services = [...new Set(filter.services)];
  const eventTypes = [...new Set(filter.eventTypes)];
  const rules = perms.subscribe;
  const who = `"${perms.service}"`;
  if (topics.length === 0) {
    if (!rules.allow.some((a) => patternCovers(a, TAIL_TOKEN))) {
      return deny(
        'subscribe: every topic needs allow ">"',
        `a filter without topics covers every topic, and ${who} may subscribe only to ${list(rules.allow)}: name the topics`,
      );
    }
  }
  for (const t of topics) {
    if (hasWildcard(t)) {
      const problem = patternProblem(t);
      if (problem !== undefined || t.includes("{self}")) {
        return deny("subscribe: topic pattern", `topic pattern "${clip(t)}" is malformed${problem === undefined ? "" : `: ${problem}`}`);
      }
      const d = rules.deny.find((p) => patternCovers(p, t));
      if (d !== undefined) return deny(`subscribe deny "${d}"`, `${who} may not subscribe to "${clip(t)}": subscribe deny "${d}"`);
      if (!rules.allow.some((a) => patternCovers(a, t))) {
        return deny(
          "subscribe: no allow pattern covers it",
          `${who} may not subscribe to "${clip(t)}": no subscribe allow pattern covers it (allowed: ${list(rules.allow)})`,
        );
      }
      continue;
    }
    const verdict = allowedBy(rules, t);
    if (!verdict.allowed) {
      return deny(`subscribe ${verdict.rule}`, `${who} may not subscribe to "${clip(t)}": subscribe ${verdict.rule}`);
    }
  }
  const stateOnly =
    (topics.length === 1 && topics[0] === STATE_CHANGES_TOPIC) || (eventTypes.length === 1 && eventTypes[0] === "state");
  if (stateOnly) {
    for (const s of services) {
      if (!readsState(perms, s)) {
        return deny(
          "state: own service or stateRead grant",
          `${who} may not see state changes of "${clip(s)}": grant it with stateRead`,
        );
      }
    }
  }
  return OK;
}

function list(patterns: readonly string[]): string {
  return patterns.length === 0 ? "nothing" : patterns.map((p) => `"${p}"`).join(", ");
}
