/**
 * A scenario record as stored: state key `scenario.<scenarioId>` of the gateway's own service,
 * value JSON `{"scenarioId","status","description","createdAt","updatedAt","revision"}`.
 * `revision` is 1 at creation and grows by one per change; with `createdAt` (which tells apart
 * two incarnations of an id deleted and created again) it orders the registry's events.
 */
import { isScenarioStatus, LIVE_SCENARIO_ID, scenarioIdProblem, type ScenarioStatus } from "./rules.js";

export const SCENARIO_KEY_PREFIX = "scenario.";

export interface ScenarioRecord {
  readonly scenarioId: string;
  readonly status: ScenarioStatus;
  readonly description: string;
  /** RFC 3339 (UTC, `Date.toISOString`). */
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly revision: number;
}

/** LIVE is not stored: it has always been active. */
export const LIVE_SCENARIO: ScenarioRecord = Object.freeze({
  scenarioId: LIVE_SCENARIO_ID,
  status: "active",
  description: "the live scenario: reserved, always active",
  createdAt: "1970-01-01T00:00:00.000Z",
  updatedAt: "1970-01-01T00:00:00.000Z",
  revision: 0,
});

export function scenarioKey(scenarioId: string): string {
  return `${SCENARIO_KEY_PREFIX}${scenarioId}`;
}

/** The scenario id of a key of the gateway's key index, or undefined if it is not a stored scenario's key. */
export function scenarioIdOfKey(key: string): string | undefined {
  if (!key.startsWith(SCENARIO_KEY_PREFIX)) return undefined;
  const id = key.slice(SCENARIO_KEY_PREFIX.length);
  return id !== LIVE_SCENARIO_ID && scenarioIdProblem(id) === undefined ? id : undefined;
}

/** The stored JSON, fields always in the same order. */
export function encodeScenarioRecord(r: ScenarioRecord): string {
  return JSON.stringify({
    scenarioId: r.scenarioId,
    status: r.status,
    description: r.description,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    revision: r.revision,
  });
}

/**
 * Parses a stored record; undefined when it is not one (or is another id's). A record without a
 * revision (written by hand, say) reads as revision 1.
 */
export function decodeScenarioRecord(json: string, expectedId: string): ScenarioRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const o = parsed as Record<string, unknown>;
  const { scenarioId, status, description, createdAt, updatedAt } = o;
  const revision = o["revision"] ?? 1;
  if (scenarioId !== expectedId || !isScenarioStatus(status)) return undefined;
  if (typeof description !== "string" || typeof createdAt !== "string" || typeof updatedAt !== "string") return undefined;
  if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 0) return undefined;
  return { scenarioId, status, description, createdAt, updatedAt, revision };
}
