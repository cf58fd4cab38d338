/**
 * Which scenarios are active, in memory: the hot-path check before a publish to `sc.<id>.<...>`.
 *
 * Filled once from the registry (`load`), then kept current by the registry's own events
 * (`apply`), which every replica receives through its backend subscription of
 * `virtufin-api.scenarios`; a pause on one replica is seen by all within the broker's latency.
 *
 * Events may arrive out of order (two replicas change one scenario at nearly the same time and
 * publish in the other order), so each entry keeps the (createdAt, revision) of what it last
 * applied and ignores anything older. A deletion leaves a tombstone for a while, so that a late
 * event of the deleted scenario cannot bring it back.
 */
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { scenarioChangeOf, type ScenarioChange } from "./events.js";
import type { ScenarioPage } from "./scenario-registry.js";
import { LIVE_SCENARIO_ID, MAX_PAGE_SIZE, type ScenarioStatus } from "./rules.js";

/** What ActiveScenarios needs of the registry. */
export interface ScenarioLister {
  list(pageSize: number, pageToken: string, signal?: AbortSignal): Promise<ScenarioPage>;
}

export interface ActiveScenariosOptions {
  /** How long a deleted scenario's tombstone is kept (default 10 minutes). */
  readonly tombstoneTtlMs?: number;
  /** Milliseconds, for tombstone expiry (default Date.now). */
  readonly clock?: () => number;
}

type Entry = Omit<ScenarioChange, "scenarioId">;

export class ActiveScenarios {
  private readonly entries = new Map<string, Entry>();
  /** Deleted ids, oldest first, with when their tombstone was laid. */
  private readonly tombstones = new Map<string, number>();
  /** Ids an event touched while a load was running: the load's snapshot does not override them. */
  private touched: Set<string> | undefined;
  private loaded = false;
  private readonly tombstoneTtlMs: number;
  private readonly clock: () => number;

  constructor(options: ActiveScenariosOptions = {}) {
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? 600_000;
    this.clock = options.clock ?? Date.now;
  }

  /** True once a load has completed. Until then only LIVE is active. */
  get ready(): boolean {
    return this.loaded;
  }

  /** Whether a publish to `sc.<id>.<...>` may go ahead: LIVE always; otherwise only an active scenario. */
  isActive(scenarioId: string): boolean {
    if (scenarioId === LIVE_SCENARIO_ID) return true;
    return this.entries.get(scenarioId)?.status === "active";
  }

  /** The known status, for an error message; undefined for an unknown or deleted scenario. */
  statusOf(scenarioId: string): ScenarioStatus | undefined {
    if (scenarioId === LIVE_SCENARIO_ID) return "active";
    const status = this.entries.get(scenarioId)?.status;
    return status === "deleted" ? undefined : status;
  }

  /** Scenarios known (deleted ones excluded). */
  get size(): number {
    return this.entries.size - this.tombstones.size;
  }

  /**
   * Reads every record from the registry. Events applied meanwhile are kept when newer; scenarios
   * known before but no longer stored (and not touched meanwhile) are forgotten. Call it after the
   * backend subscription is open, so that no change falls between the two.
   */
  async load(registry: ScenarioLister, signal?: AbortSignal): Promise<void> {
    const touched = new Set<string>();
    this.touched = touched;
    try {
      const seen = new Set<string>();
      let token = "";
      do {
        const page = await registry.list(MAX_PAGE_SIZE, token, signal);
        for (const r of page.scenarios) {
          seen.add(r.scenarioId);
          this.merge({ scenarioId: r.scenarioId, status: r.status, createdAt: r.createdAt, revision: r.revision });
        }
        token = page.nextPageToken;
      } while (token !== "");
      for (const [id, entry] of this.entries) {
        if (entry.status !== "deleted" && !seen.has(id) && !touched.has(id)) this.entries.delete(id);
      }
      this.loaded = true;
    } finally {
      if (this.touched === touched) this.touched = undefined;
    }
  }

  /** Applies one registry event; returns whether it changed anything (false for others and stale ones). */
  apply(event: StreamEvent): boolean {
    const change = scenarioChangeOf(event);
    if (change === undefined) return false;
    this.touched?.add(change.scenarioId);
    return this.merge(change);
  }

  private merge(change: ScenarioChange): boolean {
    this.prune();
    const { scenarioId, status, createdAt, revision } = change;
    const known = this.entries.get(scenarioId);
    if (known !== undefined && !newer(change, known)) return false;
    this.entries.set(scenarioId, { status, createdAt, revision });
    this.tombstones.delete(scenarioId);
    if (status === "deleted") this.tombstones.set(scenarioId, this.clock());
    return true;
  }

  /** Drops tombstones older than the TTL (oldest first, so this is cheap). */
  private prune(): void {
    const cutoff = this.clock() - this.tombstoneTtlMs;
    for (const [id, laidAt] of this.tombstones) {
      if (laidAt > cutoff) break;
      this.tombstones.delete(id);
      this.entries.delete(id);
    }
  }
}

/** A later incarnation (created later), or a later revision of the same one. */
function newer(change: Entry, known: Entry): boolean {
  if (change.createdAt !== known.createdAt) return change.createdAt > known.createdAt;
  return change.revision > known.revision;
}
