/**
 * Create claims: mutual exclusion for creating a scenario id, across gateway replicas.
 *
 * Why: every change of an existing record is a compare-and-swap on its ETag, but a record that
 * does not exist has no ETag, and the DaprAdapter port (like Dapr itself) has no "insert if
 * absent": the first write of a key is unconditional. Two replicas creating the same id at once
 * could both read "absent" and both write, and both report success.
 *
 * So a creator first claims the id in a claim table that already exists and is changed only by
 * compare-and-swap: state key `scenario-claims.<nn>` of the gateway's service (the id hashed onto
 * one of CLAIM_SHARDS shards), value `{"claims":{"<id>":{"owner","expiresAt"}}}`. Holding the claim,
 * it reads the record and writes it only if still absent, then drops the claim. A record is
 * written without an ETag only by a claim holder, so two creations of one id never overlap.
 *
 * A creator that dies holding a claim blocks that id until the claim expires (claimTtlMs). The
 * remaining gap: a shard's very first write (once in the life of a store) is itself
 * unconditional; the shard is seeded empty and then used by compare-and-swap only.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import type { DaprAdapter } from "../dapr/adapter.js";
import { EtagMismatchError } from "../errors.js";
import { GATEWAY_SERVICE } from "../services/registry.js";

export const CLAIM_KEY_PREFIX = "scenario-claims.";
export const CLAIM_SHARDS = 32;

interface Claim {
  readonly owner: string;
  readonly expiresAt: number;
}

export interface CreateClaimsOptions {
  readonly adapter: DaprAdapter;
  readonly store: string;
  /** How long a claim stays valid if its holder never releases it (default 30 s). */
  readonly claimTtlMs?: number;
  /** How many reads and compare-and-swaps one acquire may take before ABORTED (default 60, a few seconds). */
  readonly attempts?: number;
  /** Wall-clock milliseconds; claims expire by it (default Date.now). */
  readonly clock?: () => number;
}

export class CreateClaims {
  private readonly ttl: number;
  private readonly attempts: number;
  private readonly clock: () => number;

  constructor(private readonly options: CreateClaimsOptions) {
    this.ttl = options.claimTtlMs ?? 30_000;
    this.attempts = options.attempts ?? 60;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Claims `id` for this caller; resolves to the function that releases it. Waits (with backoff)
   * while another creator holds it; ABORTED if it stays held or the shard stays contended.
   */
  async acquire(id: string, signal?: AbortSignal): Promise<() => Promise<void>> {
    const key = claimKey(id);
    const owner = randomUUID();
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      signal?.throwIfAborted();
      const stored = await this.options.adapter.getState(this.options.store, GATEWAY_SERVICE, key, signal);
      if (stored === undefined) {
        await this.seed(key, signal);
        continue;
      }
      const now = this.clock();
      const claims = liveClaims(stored.value, now);
      if (claims.has(id)) {
        await backoff(attempt, signal);
        continue;
      }
      claims.set(id, { owner, expiresAt: now + this.ttl });
      try {
        await this.options.adapter.saveState(this.options.store, GATEWAY_SERVICE, key, encodeClaims(claims), stored.etag, signal);
      } catch (err) {
        if (!(err instanceof EtagMismatchError)) throw err;
        await backoff(attempt, signal);
        continue;
      }
      return () => this.release(key, id, owner);
    }
    throw new ConnectError(
      `scenario "${id}" is being created by another call, or its claim table is too contended; retry`,
      Code.Aborted,
    );
  }

  /** Drops our claim; best effort: if it cannot be dropped it expires. */
  private async release(key: string, id: string, owner: string): Promise<void> {
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      try {
        const stored = await this.options.adapter.getState(this.options.store, GATEWAY_SERVICE, key);
        if (stored === undefined) return;
        const claims = liveClaims(stored.value, this.clock());
        if (claims.get(id)?.owner !== owner) return;
        claims.delete(id);
        await this.options.adapter.saveState(this.options.store, GATEWAY_SERVICE, key, encodeClaims(claims), stored.etag);
        return;
      } catch (err) {
        if (!(err instanceof EtagMismatchError)) return;
        await backoff(attempt);
      }
    }
  }

  /** The shard's first write ever: an empty table, after which only compare-and-swap touches it. */
  private async seed(key: string, signal?: AbortSignal): Promise<void> {
    await this.options.adapter.saveState(this.options.store, GATEWAY_SERVICE, key, encodeClaims(new Map()), undefined, signal);
  }
}

/** The claim shard of an id: FNV-1a of the id, modulo CLAIM_SHARDS. */
export function claimKey(id: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  const shard = (h >>> 0) % CLAIM_SHARDS;
  return `${CLAIM_KEY_PREFIX}${String(shard).padStart(2, "0")}`;
}

/** The unexpired claims of a stored table; an unreadable table reads as empty (and is rewritten). */
function liveClaims(json: string, now: number): Map<string, Claim> {
  const out = new Map<string, Claim>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return out;
  }
  const claims = (parsed as { claims?: unknown } | null)?.claims;
  if (typeof claims !== "object" || claims === null) return out;
  for (const [id, c] of Object.entries(claims as Record<string, unknown>)) {
    const { owner, expiresAt } = (c ?? {}) as Record<string, unknown>;
    if (typeof owner === "string" && typeof expiresAt === "number" && expiresAt > now) out.set(id, { owner, expiresAt });
  }
  return out;
}

function encodeClaims(claims: ReadonlyMap<string, Claim>): string {
  return JSON.stringify({ claims: Object.fromEntries(claims) });
}

/** Full jitter, capped at 100 ms. */
export function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  return delay(Math.random() * Math.min(100, 2 * 2 ** attempt), undefined, signal === undefined ? {} : { signal });
}
