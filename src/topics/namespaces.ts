/**
 * The publish namespaces of CONTRACT.md as configuration, and the one decision that says whether a
 * caller may publish on a topic.
 *
 * A namespace is a subject pattern (see src/auth/subjects.ts) and who may publish in it:
 * - "self": the service the `{self}` token names (the lifecycle topics `<service>.<category>`);
 * - "gateway": nobody from outside; the gateway publishes there itself (`state-changes`);
 * - "granted": services whose publish rules allow the topic (market data and scenario lanes).
 * The caller's publish rules apply in every namespace (deny wins). A namespace with a
 * `scenarioToken` is a scenario lane: the token at that index is a scenario id, and publishing
 * needs the scenario to be active (`LIVE` always is).
 *
 * Raw JSON: a list (or `{"namespaces": [...]}`) of
 * `{"name", "pattern", "publishers", "scenarioToken"?, "description"?}`; a topic belongs to the
 * first namespace, in list order, whose pattern (`{self}` read as `*`) matches it. Example (the
 * defaults):
 * ```json
 * [
 *   { "name": "lifecycle", "pattern": "{self}.*", "publishers": "self", "description": "<service>.<category>" },
 *   { "name": "state-changes", "pattern": "state-changes", "publishers": "gateway" },
 *   { "name": "market-data", "pattern": "md.*.>", "publishers": "granted", "description": "md.<source>.…" },
 *   { "name": "scenario", "pattern": "sc.*.*.>", "publishers": "granted", "scenarioToken": 1,
 *     "description": "sc.<scenarioId>.<domain>.…" }
 * ]
 * ```
 */
import type { Identity } from "../auth/identity.js";
import { allowedBy, canActAs, type ServicePermissions } from "../auth/permissions.js";
import { clip, isRecord, rejectUnknownKeys } from "../auth/raw.js";
import { ONE_TOKEN, patternProblem, SELF_TOKEN, subjectMatches } from "../auth/subjects.js";
import { LIVE_SCENARIO_ID, scenarioIdProblem } from "../scenarios/rules.js";
import { topicProblem } from "./topics.js";

export type Publishers = "self" | "gateway" | "granted";

export interface Namespace {
  readonly name: string;
  /** Subject pattern; may use `{self}` (read as `*` to find the namespace). */
  readonly pattern: string;
  readonly publishers: Publishers;
  /** Index of the scenario id token, for the scenario lane. */
  readonly scenarioToken?: number;
  /** How people read the pattern, for messages (default: the pattern). */
  readonly description?: string;
}

const NAMESPACE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const PUBLISHERS: readonly Publishers[] = ["self", "gateway", "granted"];

export const DEFAULT_NAMESPACES: readonly Namespace[] = Object.freeze([
  { name: "lifecycle", pattern: "{self}.*", publishers: "self", description: "lifecycle <service>.<category>" },
  { name: "state-changes", pattern: "state-changes", publishers: "gateway" },
  { name: "market-data", pattern: "md.*.>", publishers: "granted", description: "md.<source>.…" },
  { name: "scenario", pattern: "sc.*.*.>", publishers: "granted", scenarioToken: 1, description: "sc.<scenarioId>.<domain>.…" },
] satisfies Namespace[]);

export class NamespacesConfigError extends Error {
  override readonly name = "NamespacesConfigError";
}

/** Validates the namespaces config; throws NamespacesConfigError naming the bad entry. */
export function parseNamespaces(raw: unknown): Namespace[] {
  const fail = (why: string) => new NamespacesConfigError(`namespaces: ${why}`);
  const list = isRecord(raw) && "namespaces" in raw ? raw["namespaces"] : raw;
  if (!Array.isArray(list)) throw fail('expected a list of {"name", "pattern", "publishers"}');
  if (list.length === 0) throw fail("the list is empty, so nothing could be published; leave it out for the defaults");
  const names = new Set<string>();
  return list.map((entry: unknown, i): Namespace => {
    const at = `[${i}]`;
    if (!isRecord(entry)) throw fail(`${at} is not an object`);
    rejectUnknownKeys(entry, ["name", "pattern", "publishers", "scenarioToken", "description"], at, fail);
    const { name, pattern, publishers, scenarioToken, description } = entry;
    if (typeof name !== "string" || !NAMESPACE_NAME.test(name)) throw fail(`${at}.name must match ${NAMESPACE_NAME.source}`);
    const where = `namespace "${name}"`;
    if (names.has(name)) throw fail(`${where} is listed twice`);
    names.add(name);
    if (typeof pattern !== "string") throw fail(`${where}: pattern must be a string`);
    const problem = patternProblem(pattern);
    if (problem !== undefined) throw fail(`${where}: ${problem}`);
    if (typeof publishers !== "string" || !(PUBLISHERS as readonly string[]).includes(publishers)) {
      throw fail(`${where}: publishers must be one of ${PUBLISHERS.join(", ")}`);
    }
    const tokens = pattern.split(".");
    const selfCount = tokens.filter((t) => t === SELF_TOKEN).length;
    if (publishers === "self" && selfCount !== 1) throw fail(`${where}: publishers "self" needs exactly one {self} token in the pattern`);
    if (publishers !== "self" && selfCount > 0) throw fail(`${where}: {self} is only meaningful with publishers "self"`);
    if (scenarioToken !== undefined) {
      if (typeof scenarioToken !== "number" || !Number.isInteger(scenarioToken) || scenarioToken < 0 || scenarioToken >= tokens.length) {
        throw fail(`${where}: scenarioToken must be the index of a token of the pattern`);
      }
      if (tokens[scenarioToken] !== ONE_TOKEN) throw fail(`${where}: the scenario id token (index ${scenarioToken}) must be "*"`);
    }
    if (description !== undefined && (typeof description !== "string" || description === "")) {
      throw fail(`${where}: description must be a non-empty string`);
    }
    return {
      name,
      pattern,
      publishers: publishers as Publishers,
      ...(scenarioToken === undefined ? {} : { scenarioToken: scenarioToken as number }),
      ...(description === undefined ? {} : { description: description as string }),
    };
  });
}

export type PublishDecision =
  | { readonly ok: true; readonly namespace: string; readonly scenarioId?: string }
  | {
      readonly ok: false;
      readonly code: "invalid_argument" | "permission_denied" | "failed_precondition";
      readonly rule: string;
      readonly message: string;
    };

/** The namespace a topic falls in: the first whose pattern, with `{self}` read as `*`, matches. */
export function namespaceOf(namespaces: readonly Namespace[], topic: string): Namespace | undefined {
  return namespaces.find((ns) => subjectMatches(wildSelf(ns.pattern), topic));
}

/**
 * May `identity`, publishing as `service` with that service's `permissions`, publish on `topic`?
 * Checked in order, the first failure decides: topic grammar (invalid_argument); the caller may
 * act as `service` (permission_denied); the topic is in a namespace (permission_denied); the
 * namespace lets this publisher in (permission_denied); the publish rules allow the topic, deny
 * winning (permission_denied); in a scenario lane, the scenario id is well formed
 * (invalid_argument) and active (failed_precondition).
 */
export function decidePublish(args: {
  readonly identity: Identity;
  readonly service: string;
  readonly topic: string;
  readonly namespaces: readonly Namespace[];
  readonly permissions: ServicePermissions;
  readonly isScenarioActive: (id: string) => boolean;
}): PublishDecision {
  const { identity, service, topic, namespaces, permissions, isScenarioActive } = args;
  const grammar = topicProblem(topic);
  if (grammar !== undefined) return refuse("invalid_argument", "topic grammar", grammar);

  const actAs = canActAs(identity, service);
  if (!actAs.ok) return refuse("permission_denied", actAs.rule, actAs.message);

  const shown = `"${clip(topic)}"`;
  const ns = namespaceOf(namespaces, topic);
  if (ns === undefined) {
    const open = namespaces.filter((n) => n.publishers !== "gateway").map((n) => n.description ?? n.pattern);
    return refuse(
      "permission_denied",
      "outside every namespace",
      `topic ${shown} is outside every namespace (${open.join(", ")})`,
    );
  }
  const where = `namespace "${ns.name}" (${ns.description ?? ns.pattern})`;
  const tokens = topic.split(".");

  switch (ns.publishers) {
    case "gateway":
      return refuse("permission_denied", `namespace "${ns.name}": gateway only`, `only the gateway publishes on ${shown}, in ${where}`);
    case "self": {
      const owner = tokens[ns.pattern.split(".").indexOf(SELF_TOKEN)];
      if (owner !== service) {
        return refuse(
          "permission_denied",
          `namespace "${ns.name}": publisher is the service the topic names`,
          `${shown} is a topic of service "${clip(owner ?? "")}" in ${where}; only that service publishes there, and the caller publishes as "${clip(service)}"`,
        );
      }
      break;
    }
    case "granted":
      break;
  }

  const verdict = allowedBy(permissions.publish, topic);
  if (!verdict.allowed) {
    const granted = ns.publishers === "granted" ? `; ${where} is open only to services granted it` : "";
    return refuse(
      "permission_denied",
      `publish ${verdict.rule}`,
      `"${clip(service)}" may not publish on ${shown}: publish ${verdict.rule}${granted}`,
    );
  }

  if (ns.scenarioToken === undefined) return { ok: true, namespace: ns.name };
  const scenarioId = tokens[ns.scenarioToken] ?? "";
  if (scenarioId === LIVE_SCENARIO_ID) return { ok: true, namespace: ns.name, scenarioId };
  const idProblem = scenarioIdProblem(scenarioId);
  if (idProblem !== undefined) {
    return refuse("invalid_argument", "scenario id grammar", `${shown} does not name a scenario: ${idProblem}`);
  }
  if (!isScenarioActive(scenarioId)) {
    return refuse(
      "failed_precondition",
      "scenario must be active",
      `scenario "${scenarioId}" is not active (unknown, paused or archived): ${shown} accepts events only while it is active`,
    );
  }
  return { ok: true, namespace: ns.name, scenarioId };
}

function refuse(
  code: "invalid_argument" | "permission_denied" | "failed_precondition",
  rule: string,
  message: string,
): PublishDecision {
  return { ok: false, code, rule, message };
}

function wildSelf(pattern: string): string {
  return pattern
    .split(".")
    .map((t) => (t === SELF_TOKEN ? ONE_TOKEN : t))
    .join(".");
}
