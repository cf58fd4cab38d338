/**
 * Group commit for a service's key index on Dapr. The index is one JSON value changed by
 * compare-and-swap; when every save ran its own read-CAS loop, a thousand saves a second on new
 * keys fought over that one ETag and the retries starved the sidecar. Here the changes waiting
 * for an index are applied together: one read, the changes in arrival order, one conditional
 * write, and every waiter of that batch is answered by it.
 *
 * The guarantee each caller relies on is kept: its change is in the index as read by a read that
 * started after it asked (a batch is taken only after its changes were queued), so a save's
 * "still listed?" check after writing its value cannot be answered by an older read.
 */
export interface IndexSnapshot {
  readonly keys: Set<string>;
  /** "" when the index does not exist yet. */
  readonly etag: string;
}

/** The index as stored: a read, and a write that fails when `etag` no longer holds. */
export interface IndexStore {
  read(): Promise<IndexSnapshot>;
  /** Writes the keys; with an ETag only if it still holds (throws otherwise), without one unconditionally. */
  write(keys: readonly string[], etag: string | undefined): Promise<void>;
}

/** A change to the index: answers whether it changed the set. */
export type IndexChange = (keys: Set<string>) => boolean;

export interface IndexBatcherOptions {
  /** Read-change-write rounds before a batch gives up. */
  readonly attempts: number;
  /** Waits before another round after a lost race (jittered backoff). */
  readonly backoff: (attempt: number) => Promise<void>;
  /** The error a batch ends with when every round lost. */
  readonly exhausted: () => Error;
}

interface Waiter {
  readonly change: IndexChange;
  resolve(): void;
  reject(reason: unknown): void;
}

export class IndexBatcher {
  private queued: Waiter[] = [];
  private running = false;

  constructor(
    private readonly store: IndexStore,
    private readonly options: IndexBatcherOptions,
  ) {}

  /** Resolves once the change is in the index (or was already), as seen by a read made after this call. */
  update(change: IndexChange, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queued.push({
        change,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (reason) => {
          signal?.removeEventListener("abort", onAbort);
          reject(reason);
        },
      });
      if (!this.running) {
        // Started after this tick, so changes asked for in the same tick share the first batch.
        this.running = true;
        queueMicrotask(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queued.length > 0) {
        const batch = this.queued;
        this.queued = [];
        try {
          await this.commit(batch);
          for (const w of batch) w.resolve();
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async commit(batch: readonly Waiter[]): Promise<void> {
    const { attempts, backoff, exhausted } = this.options;
    for (let attempt = 0; attempt < attempts; attempt++) {
      // A failed read ends the batch: the sidecar's breaker and retries already ran.
      const snapshot = await this.store.read();
      const wanted = new Set(snapshot.keys);
      let changed = false;
      for (const w of batch) if (w.change(wanted)) changed = true;
      if (!changed) return;
      try {
        await this.store.write([...wanted].sort(), snapshot.etag === "" ? undefined : snapshot.etag);
      } catch {
        // A lost race, or a write whose outcome is unknown: the next read shows which.
        await backoff(attempt);
        continue;
      }
      if (snapshot.etag !== "") return;
      // Created without a CAS (there was no ETag to check): the next round's read confirms it.
    }
    throw exhausted();
  }
}
