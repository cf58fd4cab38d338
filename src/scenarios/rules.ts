/**
 * Scenario rules of CONTRACT.md, as plain functions: the id grammar and the lifecycle.
 *
 *   create -> active;  active <-> paused;  active | paused -> archived;  archived -> deleted
 *
 * `LIVE` is reserved: a valid id to read and to publish to (`sc.LIVE.<...>`), always active, and
 * never the subject of a transition. Every refusal names the scenario's current status, so the
 * caller can tell what to do next.
 */

export type ScenarioStatus = "active" | "paused" | "archived";
export type ScenarioAction = "create" | "pause" | "resume" | "archive" | "delete";

export const SCENARIO_STATUSES: readonly ScenarioStatus[] = ["active", "paused", "archived"];
export const SCENARIO_ACTIONS: readonly ScenarioAction[] = ["create", "pause", "resume", "archive", "delete"];

export const LIVE_SCENARIO_ID = "LIVE";
export const MAX_SCENARIO_ID_LENGTH = 63;
/** A description is free text for people; this keeps one record (and one event) small. */
export const MAX_DESCRIPTION_LENGTH = 1024;

const SCENARIO_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export type TransitionProblemCode = "failed_precondition" | "not_found" | "already_exists" | "invalid_argument";

export type TransitionResult =
  | { readonly ok: true; readonly next: ScenarioStatus | "deleted" }
  | { readonly ok: false; readonly code: TransitionProblemCode; readonly message: string };

export function isScenarioStatus(s: unknown): s is ScenarioStatus {
  return s === "active" || s === "paused" || s === "archived";
}

/** Why `id` is not a scenario id, or undefined when it is one (`LIVE` included). */
export function scenarioIdProblem(id: string): string | undefined {
  if (id === "") return "scenario_id is required";
  if (id === LIVE_SCENARIO_ID) return undefined;
  if (id.length > MAX_SCENARIO_ID_LENGTH) {
    return `scenario_id is ${id.length} characters long; the limit is ${MAX_SCENARIO_ID_LENGTH}`;
  }
  if (!SCENARIO_ID.test(id)) {
    return `scenario_id "${printable(id)}" must start with a lower-case letter or digit and hold only lower-case letters, digits and "-" (or be the reserved LIVE)`;
  }
  return undefined;
}

/** Why `description` cannot be stored, or undefined. */
export function descriptionProblem(description: string): string | undefined {
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    return `description is ${description.length} characters long; the limit is ${MAX_DESCRIPTION_LENGTH}`;
  }
  return undefined;
}

/**
 * The status after `action` on a scenario whose stored status is `current` (undefined: no record),
 * or why the action is refused.
 */
export function transition(current: ScenarioStatus | undefined, action: ScenarioAction, id: string): TransitionResult {
  const idProblem = scenarioIdProblem(id);
  if (idProblem !== undefined) return refuse("invalid_argument", idProblem);
  if (id === LIVE_SCENARIO_ID) {
    return refuse(
      "invalid_argument",
      `cannot ${action} scenario LIVE: LIVE is reserved; it is always active and is never created, paused, resumed, archived or deleted`,
    );
  }
  const name = `scenario "${id}"`;
  if (action === "create") {
    return current === undefined
      ? { ok: true, next: "active" }
      : refuse("already_exists", `${name} already exists (status: ${current})`);
  }
  if (current === undefined) return refuse("not_found", `${name} not found (status: none, it does not exist)`);
  switch (action) {
    case "pause":
      if (current === "active") return { ok: true, next: "paused" };
      return refuse(
        "failed_precondition",
        current === "paused" ? `${name} is already paused` : `cannot pause ${name}: it is ${current}; only an active scenario can be paused`,
      );
    case "resume":
      if (current === "paused") return { ok: true, next: "active" };
      return refuse(
        "failed_precondition",
        current === "active" ? `${name} is already active` : `cannot resume ${name}: it is ${current}; only a paused scenario can be resumed`,
      );
    case "archive":
      if (current === "active" || current === "paused") return { ok: true, next: "archived" };
      return refuse("failed_precondition", `${name} is already archived`);
    case "delete":
      if (current === "archived") return { ok: true, next: "deleted" };
      return refuse("failed_precondition", `cannot delete ${name}: it is ${current}; archive it first`);
  }
}

function refuse(code: TransitionProblemCode, message: string): TransitionResult {
  return { ok: false, code, message };
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** Why a requested page size is refused (negative), or undefined. */
export function pageSizeProblem(requested: number): string | undefined {
  if (!Number.isInteger(requested) || requested < 0) return `page_size must be 0 (the default, ${DEFAULT_PAGE_SIZE}) or positive; got ${requested}`;
  return undefined;
}

/** The page size actually used: 0 means the default; anything above the maximum is clamped to it. */
export function effectivePageSize(requested: number): number {
  return requested === 0 ? DEFAULT_PAGE_SIZE : Math.min(requested, MAX_PAGE_SIZE);
}

/** Quotes an untrusted id safely in an error message: clipped, control and non-ASCII escaped. */
function printable(s: string): string {
  const shown = s.length > 64 ? `${s.slice(0, 64)}...` : s;
  return shown.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${c.codePointAt(0)?.toString(16)}}`);
}
