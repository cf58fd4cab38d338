/**
 * The scenario registry: records stored through the DaprAdapter as state key
 * `scenario.<scenarioId>` of the gateway's own service (so they persist on either backend), every
 * change a read-decide-write under the record's ETag, and one `system` event per change on
 * `virtufin-api.scenarios` so that every replica's ActiveScenarios follows.
 *
 * Concurrency: a change re-reads and decides again when its compare-and-swap loses, so two
 * replicas never both pause a scenario, and a change that raced a deletion finds the record gone
 * (not found) instead of writing it back. Creation, which has no ETag to compare, holds a create
 * claim (see create-claims.ts) while it checks and writes.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { DaprAdapter, StoredValue } from "../dapr/adapter.js";
import { EtagMismatchError } from "../errors.js";
import type { EventPublisher } from "../events/publisher.js";
import { GATEWAY_SERVICE } from "../services/registry.js";
import { backoff, CreateClaims } from "./create-claims.js";
import { scenarioEvent, scenarioEventKind } from "./events.js";
import {
  decodeScenarioRecord,
  encodeScenarioRecord,
  LIVE_SCENARIO,
  scenarioIdOfKey,
  scenarioKey,
  type ScenarioRecord,
} from "./record.js";
import {
  descriptionProblem,
  effectivePageSize,
  LIVE_SCENARIO_ID,
  pageSizeProblem,
  scenarioIdProblem,
  transition,
  type ScenarioAction,
  type TransitionProblemCode,
} from "./rules.js";

export interface ScenarioRegistryOptions {
  readonly adapter: DaprAdapter;
  readonly publisher: EventPublisher;
  /** The state store component holding the records. */
  readonly store: string;
  /** The pub/sub component the registry's events go to. */
  readonly pubsub: string;
  /** The clock of createdAt / updatedAt (default: the system clock). */
  readonly now?: () => Date;
  /** Read-decide-write rounds a change may take under contention before ABORTED (default 8). */
  readonly attempts?: number;
  /** How long a create claim of a crashed creator blocks its id (default 30 s). */
  readonly claimTtlMs?: number;
}

export interface ScenarioPage {
  readonly scenarios: readonly ScenarioRecord[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}

/** A stored record that does not parse: an internal error, never the caller's. */
export class ScenarioRecordError extends Error {
  override readonly name = "ScenarioRecordError";
}

const CODES: Readonly<Record<TransitionProblemCode, Code>> = {
  failed_precondition: Code.FailedPrecondition,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  invalid_argument: Code.InvalidArgument,
};

const PAGE_TOKEN_PREFIX = "after:";

export class ScenarioRegistry {
  private readonly adapter: DaprAdapter;
  private readonly now: () => Date;
  private readonly attempts: number;
  private readonly claims: CreateClaims;

  constructor(private readonly options: ScenarioRegistryOptions) {
    this.adapter = options.adapter;
    this.now = options.now ?? (() => new Date());
    this.attempts = options.attempts ?? 8;
    this.claims = new CreateClaims({
      adapter: options.adapter,
      store: options.store,
      ...(options.claimTtlMs === undefined ? {} : { claimTtlMs: options.claimTtlMs }),
    });
  }

  /** Creates an active scenario. ALREADY_EXISTS if the id has a record (whatever its status). */
  async create(scenarioId: string, description: string, signal?: AbortSignal): Promise<ScenarioRecord> {
    decide(undefined, "create", scenarioId);
    const tooLong = descriptionProblem(description);
    if (tooLong !== undefined) throw new ConnectError(tooLong, Code.InvalidArgument);
    // Cheap refusal of an obvious duplicate before taking a claim.
    const existing = await this.read(scenarioId, signal);
    decide(existing?.record.status, "create", scenarioId);

    const release = await this.claims.acquire(scenarioId, signal);
    let record: ScenarioRecord;
    try {
      // Under the claim nobody else writes an absent record, so this read decides for good.
      const current = await this.read(scenarioId, signal);
      decide(current?.record.status, "create", scenarioId);
      const time = this.now().toISOString();
      record = { scenarioId, status: "active", description, createdAt: time, updatedAt: time, revision: 1 };
      await this.adapter.saveState(this.options.store, GATEWAY_SERVICE, scenarioKey(scenarioId), encodeScenarioRecord(record), undefined, signal);
    } finally {
      await release();
    }
    await this.announce("create", record);
    return record;
  }

  /** The record; LIVE reads as a synthetic always-active one. NOT_FOUND if there is none. */
  async get(scenarioId: string, signal?: AbortSignal): Promise<ScenarioRecord> {
    requireId(scenarioId);
    if (scenarioId === LIVE_SCENARIO_ID) return LIVE_SCENARIO;
    const found = await this.read(scenarioId, signal);
    if (found === undefined) throw new ConnectError(`scenario "${scenarioId}" not found`, Code.NotFound);
    return found.record;
  }

  /**
   * One page of the stored scenarios in id order (LIVE, which is not stored, is not listed).
   * `pageSize` 0 means 100, more than 1000 means 1000; `pageToken` is "" or a previous page's
   * `nextPageToken` (opaque: the last id of that page, encoded).
   */
  async list(pageSize: number, pageToken: string, signal?: AbortSignal): Promise<ScenarioPage> {
    const sizeProblem = pageSizeProblem(pageSize);
    if (sizeProblem !== undefined) throw new ConnectError(sizeProblem, Code.InvalidArgument);
    const size = effectivePageSize(pageSize);
    const after = pageToken === "" ? undefined : decodePageToken(pageToken);

    const keys = await this.adapter.readIndex(this.options.store, GATEWAY_SERVICE, signal);
    const ids: string[] = [];
    for (const key of keys) {
      const id = scenarioIdOfKey(key);
      if (id !== undefined && (after === undefined || id > after)) ids.push(id);
    }
    const sorted = [...new Set(ids)].sort();

    // The index may list a key whose value is gone; fetch until the page is full or ids run out.
    const scenarios: ScenarioRecord[] = [];
    let next = 0;
    while (scenarios.length < size && next < sorted.length) {
      const batch = sorted.slice(next, next + size - scenarios.length);
      next += batch.length;
      const values = await this.adapter.getBulkState(this.options.store, GATEWAY_SERVICE, batch.map(scenarioKey), signal);
      for (const id of batch) {
        const stored = values.get(scenarioKey(id));
        if (stored !== undefined) scenarios.push(parse(id, stored));
      }
    }
    const last = sorted[next - 1];
    return { scenarios, nextPageToken: next < sorted.length && last !== undefined ? encodePageToken(last) : "" };
  }

  pause(scenarioId: string, signal?: AbortSignal): Promise<ScenarioRecord> {
    return this.change(scenarioId, "pause", signal);
  }

  resume(scenarioId: string, signal?: AbortSignal): Promise<ScenarioRecord> {
    return this.change(scenarioId, "resume", signal);
  }

  archive(scenarioId: string, signal?: AbortSignal): Promise<ScenarioRecord> {
    return this.change(scenarioId, "archive", signal);
  }

  /** Deletes an archived scenario; its id may then be created again. */
  async delete(scenarioId: string, signal?: AbortSignal): Promise<void> {
    await this.change(scenarioId, "delete", signal);
  }

  /**
   * Read, decide with the rules, write under the ETag read; on a lost compare-and-swap start over.
   * Returns the record written (for a deletion: the record deleted, with the deletion's revision).
   */
  private async change(scenarioId: string, action: Exclude<ScenarioAction, "create">, signal?: AbortSignal): Promise<ScenarioRecord> {
    // An invalid or reserved id is refused before anything is read.
    if (scenarioId === LIVE_SCENARIO_ID || scenarioIdProblem(scenarioId) !== undefined) decide(undefined, action, scenarioId);
    const key = scenarioKey(scenarioId);
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      const current = await this.read(scenarioId, signal);
      const next = decide(current?.record.status, action, scenarioId);
      if (current === undefined) throw new Error("unreachable: the rules refuse every change of a missing record");
      const { record, etag } = current;
      let after: ScenarioRecord;
      try {
        if (next === "deleted") {
          await this.adapter.deleteState(this.options.store, GATEWAY_SERVICE, key, etag, signal);
          after = { ...record, revision: record.revision + 1 };
        } else {
          after = { ...record, status: next, updatedAt: this.now().toISOString(), revision: record.revision + 1 };
          await this.adapter.saveState(this.options.store, GATEWAY_SERVICE, key, encodeScenarioRecord(after), etag, signal);
        }
      } catch (err) {
        if (!(err instanceof EtagMismatchError)) throw err;
        await backoff(attempt, signal);
        continue;
      }
      await this.announce(action, after);
      return after;
    }
    throw new ConnectError(`scenario "${scenarioId}" is being changed concurrently; retry the ${action}`, Code.Aborted);
  }

  private async read(scenarioId: string, signal?: AbortSignal): Promise<{ record: ScenarioRecord; etag: string } | undefined> {
    const stored = await this.adapter.getState(this.options.store, GATEWAY_SERVICE, scenarioKey(scenarioId), signal);
    return stored === undefined ? undefined : { record: parse(scenarioId, stored), etag: stored.etag };
  }

  /**
   * Publishes the change's event. Not tied to the caller's signal: the change is committed, and
   * the other replicas must hear of it even if the caller has gone away.
   */
  private async announce(action: ScenarioAction, after: ScenarioRecord): Promise<void> {
    await this.options.publisher.publish(scenarioEvent(this.options.pubsub, scenarioEventKind(action), after, this.now()));
  }
}

/** The status the rules allow, or the ConnectError they call for. */
function decide(current: ScenarioRecord["status"] | undefined, action: ScenarioAction, scenarioId: string) {
  const t = transition(current, action, scenarioId);
  if (!t.ok) throw new ConnectError(t.message, CODES[t.code]);
  return t.next;
}

function requireId(scenarioId: string): void {
  const problem = scenarioIdProblem(scenarioId);
  if (problem !== undefined) throw new ConnectError(problem, Code.InvalidArgument);
}

function parse(scenarioId: string, stored: StoredValue): ScenarioRecord {
  const record = decodeScenarioRecord(stored.value, scenarioId);
  if (record === undefined) throw new ScenarioRecordError(`the stored record of scenario "${scenarioId}" is not a scenario record`);
  return record;
}

export function encodePageToken(lastId: string): string {
  return Buffer.from(`${PAGE_TOKEN_PREFIX}${lastId}`, "utf8").toString("base64url");
}

/** The last id of the previous page; INVALID_ARGUMENT for anything ListScenarios did not hand out. */
export function decodePageToken(token: string): string {
  const malformed = () => new ConnectError("page_token is malformed: pass a next_page_token from ListScenarios, or empty for the first page", Code.InvalidArgument);
  if (token.length > 200 || !/^[A-Za-z0-9_-]+$/.test(token)) throw malformed();
  const text = Buffer.from(token, "base64url").toString("utf8");
  if (!text.startsWith(PAGE_TOKEN_PREFIX)) throw malformed();
  const id = text.slice(PAGE_TOKEN_PREFIX.length);
  if (id === LIVE_SCENARIO_ID || scenarioIdProblem(id) !== undefined) throw malformed();
  return id;
}
