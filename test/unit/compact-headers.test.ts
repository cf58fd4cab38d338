/**
 * CompactHeaders against the platform's Headers (undici): the same operations, in random order
 * and with awkward input (mixed case, repeated names, set-cookie, whitespace, invalid names and
 * values), give the same results and throw alike.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CompactHeaders } from "../../src/server/compact-headers.js";

const NAMES = ["content-type", "Content-Type", "grpc-status", "GRPC-MESSAGE", "set-cookie", "Set-Cookie", "x-a", "x-b", "a", "z", "bad name", "", "ä"];
const VALUES = ["1", "text/plain", "  padded\t", "a, b", "", "x=1; Path=/", "line\rbreak", "nul\0x", "content-type", "\tq"];

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function outcome(f: () => unknown): unknown {
  try {
    const value = f();
    return { value: value === undefined ? "undefined" : value };
  } catch (err) {
    return { threw: (err as Error).constructor.name };
  }
}

function snapshot(h: Headers): unknown {
  const forEach: Array<[string, string]> = [];
  h.forEach((value, key, parent) => {
    assert.equal(parent, h);
    forEach.push([key, value]);
  });
  return { entries: [...h], keys: [...h.keys()], values: [...h.values()], forEach, cookies: h.getSetCookie() };
}

describe("CompactHeaders", () => {
  it("behaves as the platform's Headers over 400 random sequences of operations", () => {
    for (let seed = 1; seed <= 400; seed++) {
      const next = random(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
      const ours = new CompactHeaders();
      const theirs = new Headers();
      const log: string[] = [];
      for (let step = 0; step < 25; step++) {
        const op = pick(["append", "set", "delete", "get", "has"] as const);
        const name = pick(NAMES);
        const value = pick(VALUES);
        log.push(`${op}(${JSON.stringify(name)}${op === "append" || op === "set" ? `, ${JSON.stringify(value)}` : ""})`);
        const run = (h: Headers) =>
          outcome(() => (op === "append" || op === "set" ? h[op](name, value) : h[op](name)));
        assert.deepEqual(run(ours), run(theirs), `seed ${seed}: ${log.join("; ")}`);
        assert.deepEqual(snapshot(ours), snapshot(theirs), `seed ${seed}: ${log.join("; ")}`);
      }
    }
  });

  it("takes the same initialisers as the platform's Headers", () => {
    const inits: unknown[] = [
      { "Content-Type": "application/grpc", "grpc-status": "0" },
      [["a", "1"], ["A", "2"], ["set-cookie", "x"], ["set-cookie", "y"]],
      new Headers({ b: "2", a: "1" }),
      new Map([["k", "v"]]),
      { list: ["x", "y"] },
      [["only-name"]],
      { "bad name": "v" },
    ];
    for (const init of inits) {
      const build = (make: () => Headers) => outcome(() => snapshot(make()));
      assert.deepEqual(
        build(() => new CompactHeaders(init as never)),
        build(() => new Headers(init as never)),
        JSON.stringify(init instanceof Map || init instanceof Headers ? [...init] : init),
      );
    }
  });

  it("fromNode takes Node's parsed headers as they are, without the pseudo-headers", () => {
    const h = CompactHeaders.fromNode({ ":path": "/x", ":method": "POST", "content-type": "application/grpc", "set-cookie": ["a=1", "b=2"], te: "trailers", skipped: undefined });
    assert.deepEqual([...h], [["content-type", "application/grpc"], ["set-cookie", "a=1"], ["set-cookie", "b=2"], ["te", "trailers"]]);
    assert.equal(h.get("Content-Type"), "application/grpc");
  });
});
