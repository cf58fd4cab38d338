/**
 * whenStreamEnds behaves like `try { yield* source } catch (e) { throw ended(e) } finally { ended() }`
 * with `ended` called exactly once; each case is checked against that generator as the reference.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { whenStreamEnds, type StreamEnded } from "../../src/server/stream-end.js";

async function* numbers(n: number, failAt?: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    if (i === failAt) throw new Error(`boom at ${i}`);
    yield i;
  }
}

/** A recorder of `ended` calls that replaces a failure with a wrapped error. */
function recorder(): { calls: Array<{ failed: boolean; error: unknown }>; ended: StreamEnded } {
  const calls: Array<{ failed: boolean; error: unknown }> = [];
  return {
    calls,
    ended: (failed, error) => {
      calls.push({ failed, error });
      return failed ? new Error(`mapped: ${(error as Error).message}`) : undefined;
    },
  };
}

async function drain(it: AsyncIterable<number>): Promise<{ got: number[]; thrown?: string }> {
  const got: number[] = [];
  try {
    for await (const v of it) got.push(v);
    return { got };
  } catch (e) {
    return { got, thrown: (e as Error).message };
  }
}

describe("whenStreamEnds", () => {
  it("passes every message through and reports a normal end once", async () => {
    const r = recorder();
    assert.deepEqual(await drain(whenStreamEnds(numbers(3), r.ended)), { got: [0, 1, 2] });
    assert.deepEqual(r.calls, [{ failed: false, error: undefined }]);
  });

  it("reports a failure once and throws what `ended` returns in its place", async () => {
    const r = recorder();
    assert.deepEqual(await drain(whenStreamEnds(numbers(5, 2), r.ended)), { got: [0, 1], thrown: "mapped: boom at 2" });
    assert.equal(r.calls.length, 1);
    assert.equal(r.calls[0]?.failed, true);
    assert.equal((r.calls[0]?.error as Error).message, "boom at 2");
  });

  it("reports a reader that stops early as a normal end, and stops the source", async () => {
    const r = recorder();
    let sourceFinalised = false;
    const source = (async function* () {
      try {
        yield* numbers(10);
      } finally {
        sourceFinalised = true;
      }
    })();
    for await (const v of whenStreamEnds(source, r.ended)) if (v === 1) break;
    assert.equal(sourceFinalised, true);
    assert.deepEqual(r.calls, [{ failed: false, error: undefined }]);
  });

  it("like a generator, never runs the source or `ended` when stopped before the first message", async () => {
    const r = recorder();
    let started = false;
    const source = (async function* () {
      started = true;
      yield 1;
    })();
    const it = whenStreamEnds(source, r.ended)[Symbol.asyncIterator]();
    assert.deepEqual(await it.return?.(), { done: true, value: undefined });
    assert.equal(started, false);
    assert.deepEqual(r.calls, []);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  it("answers done after the end without calling `ended` again", async () => {
    const r = recorder();
    const it = whenStreamEnds(numbers(1), r.ended)[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { done: false, value: 0 });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    await it.return?.();
    assert.equal(r.calls.length, 1);
  });

  it("treats a source whose iterator cannot be created as a failure", async () => {
    const r = recorder();
    const broken = { [Symbol.asyncIterator]: () => { throw new Error("no iterator"); } } as unknown as AsyncIterable<number>;
    assert.deepEqual(await drain(whenStreamEnds(broken, r.ended)), { got: [], thrown: "mapped: no iterator" });
    assert.equal(r.calls.length, 1);
  });

  describe("several watchers on one stream", () => {
    /** The reference: one generator wrapper per watcher, the first innermost. */
    function nested<T>(source: AsyncIterable<T>, watchers: StreamEnded[]): AsyncIterable<T> {
      let current = source;
      for (const ended of watchers) {
        const inner = current;
        current = (async function* () {
          let failed = false;
          try {
            yield* inner;
          } catch (e) {
            failed = true;
            throw ended(true, e);
          } finally {
            if (!failed) ended(false, undefined);
          }
        })();
      }
      return current;
    }

    /** Three watchers that log their calls in one list and wrap a failure with their name. */
    function watchers(log: string[]): StreamEnded[] {
      return ["a", "b", "c"].map((name) => (failed: boolean, error: unknown) => {
        log.push(`${name}:${failed ? (error as Error).message : "ok"}`);
        return failed ? new Error(`${name}(${(error as Error).message})`) : undefined;
      });
    }

    function joined<T>(source: AsyncIterable<T>, list: StreamEnded[]): AsyncIterable<T> {
      let current = source;
      for (const ended of list) current = whenStreamEnds(current, ended);
      return current;
    }

    for (const [name, make, stopAt] of [
      ["a normal end", () => numbers(3), undefined],
      ["a failure", () => numbers(5, 2), undefined],
      ["a reader that stops early", () => numbers(10), 1],
    ] as const) {
      it(`calls them in the order nested wrappers would, with the same errors, for ${name}`, async () => {
        const run = async (wrap: (s: AsyncIterable<number>, w: StreamEnded[]) => AsyncIterable<number>) => {
          const log: string[] = [];
          const got: number[] = [];
          let thrown: string | undefined;
          try {
            for await (const v of wrap(make(), watchers(log))) {
              got.push(v);
              if (v === stopAt) break;
            }
          } catch (e) {
            thrown = (e as Error).message;
          }
          return { log, got, thrown };
        };
        const expected = await run(nested);
        assert.ok(expected.log.length === 3, "the reference calls every watcher");
        assert.deepEqual(await run(joined), expected);
      });
    }

    it("joins one wrapper until someone reads it; a wrapper already read is wrapped again", async () => {
      const log: string[] = [];
      const [a, b, c] = watchers(log) as [StreamEnded, StreamEnded, StreamEnded];
      const first = whenStreamEnds(numbers(3), a);
      assert.equal(whenStreamEnds(first, b), first, "the second watcher joins the first wrapper");
      const it = first[Symbol.asyncIterator]();
      assert.deepEqual(await it.next(), { done: false, value: 0 });
      const outer = whenStreamEnds(first, c);
      assert.notEqual(outer, first, "a started wrapper is wrapped, not extended");
      assert.deepEqual(await it.next(), { done: false, value: 1 });
      assert.deepEqual(await it.next(), { done: false, value: 2 });
      assert.deepEqual(await it.next(), { done: true, value: undefined });
      assert.deepEqual(log, ["a:ok", "b:ok"]);
    });
  });
});
