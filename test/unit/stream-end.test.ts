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
});
