/**
 * The group commit of the Dapr key index (src/dapr/sidecar/index-batcher.ts) over an in-memory
 * compare-and-swap store that behaves like Dapr's (a conditional write fails when the ETag moved;
 * every call yields to the event loop, so calls interleave as they do over the network). The
 * real store is exercised by test/e2e/dapr-contract.test.ts and dapr-replicas.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IndexBatcher, type IndexStore } from "../../src/dapr/sidecar/index-batcher.js";

class CasStore {
  keys: string[] = [];
  version = 0;
  reads = 0;
  writes = 0;
  /** Reads in the order they started, with the keys they saw. */
  readLog: string[][] = [];

  view(): IndexStore {
    return {
      read: async () => {
        this.reads++;
        await new Promise((r) => setImmediate(r));
        this.readLog.push([...this.keys]);
        return { keys: new Set(this.keys), etag: this.version === 0 ? "" : String(this.version) };
      },
      write: async (keys, etag) => {
        this.writes++;
        await new Promise((r) => setImmediate(r));
        if (etag !== undefined && etag !== String(this.version)) throw Object.assign(new Error("etag mismatch"), { name: "EtagMismatchError" });
        this.keys = [...keys];
        this.version++;
      },
    };
  }
}

const options = { attempts: 64, backoff: () => new Promise<void>((r) => setImmediate(r)), exhausted: () => new Error("too much contention") };
const add = (key: string) => (set: Set<string>) => (set.has(key) ? false : (set.add(key), true));
const remove = (key: string) => (set: Set<string>) => set.delete(key);

describe("IndexBatcher", () => {
  it("lists every key of 500 concurrent adds with far fewer store calls than one CAS each", async () => {
    const store = new CasStore();
    const batcher = new IndexBatcher(store.view(), options);
    await Promise.all(Array.from({ length: 500 }, (_, i) => batcher.update(add(`k${i}`))));
    assert.equal(store.keys.length, 500);
    assert.deepEqual(store.keys, Array.from({ length: 500 }, (_, i) => `k${i}`).sort());
    assert.ok(store.reads + store.writes < 50, `reads ${store.reads} + writes ${store.writes}`);
  });

  it("answers a change only after a read that started after it was asked", async () => {
    const store = new CasStore();
    store.version = 1; // an existing index: every write is a compare-and-swap
    const batcher = new IndexBatcher(store.view(), options);
    const first = batcher.update(add("a"));
    // Queued while the first batch is being committed: it must not ride on the first read.
    await new Promise((r) => setImmediate(r));
    store.keys = ["a", "x-from-elsewhere"];
    store.version = 41;
    const second = batcher.update(add("b"));
    await Promise.all([first, second]);
    assert.ok(store.keys.includes("b"));
    assert.ok(store.keys.includes("x-from-elsewhere"), "a key written by another writer in between is kept");
  });

  it("applies changes in arrival order within a batch, and a no-op batch writes nothing", async () => {
    const store = new CasStore();
    const batcher = new IndexBatcher(store.view(), options);
    await batcher.update(add("k"));
    const writes = store.writes;
    await Promise.all([batcher.update(remove("k")), batcher.update(add("k"))]);
    assert.deepEqual(store.keys, ["k"]);
    await Promise.all([batcher.update(add("k")), batcher.update(add("k"))]);
    assert.ok(store.writes <= writes + 1, "the remove-then-add batch may write once; the no-op batch never");
  });

  it("two replicas adding to the same index lose no key", async () => {
    const store = new CasStore();
    const replicas = [new IndexBatcher(store.view(), options), new IndexBatcher(store.view(), options)];
    await Promise.all(Array.from({ length: 300 }, (_, i) => (replicas[i % 2] as IndexBatcher).update(add(`r${i}`))));
    assert.equal(new Set(store.keys).size, 300);
  });

  it("ends a batch that loses every round with the exhausted error, and keeps serving later changes", async () => {
    const store = new CasStore();
    store.version = 1;
    const view = store.view();
    const hostile: IndexStore = {
      read: view.read,
      write: async (keys, etag) => {
        store.version++; // someone else always wins in between
        return view.write(keys, etag);
      },
    };
    const batcher = new IndexBatcher(hostile, { ...options, attempts: 3 });
    await assert.rejects(batcher.update(add("never")), /too much contention/);
    assert.equal(store.writes, 3);
    const fair = new IndexBatcher(view, options);
    await fair.update(add("later"));
    assert.deepEqual(store.keys, ["later"]);
  });

  it("rejects a waiter whose signal aborts, without failing the others", async () => {
    const store = new CasStore();
    const batcher = new IndexBatcher(store.view(), options);
    const controller = new AbortController();
    const aborted = batcher.update(add("a"), controller.signal);
    const other = batcher.update(add("b"));
    controller.abort(new Error("caller gone"));
    await assert.rejects(aborted, /caller gone/);
    await other;
    assert.ok(store.keys.includes("b"));
    await assert.rejects(batcher.update(add("c"), controller.signal), /caller gone/);
  });
});
