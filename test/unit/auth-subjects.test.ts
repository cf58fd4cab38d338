import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { expandSelf, hasWildcard, patternCovers, patternProblem, subjectMatches } from "../../src/auth/subjects.js";

/**
 * Reference matcher, written independently of the implementation: the pattern becomes an
 * anchored regular expression (`*` one non-empty token, a last `>` one or more tokens, anything
 * else literal).
 */
function referenceMatches(pattern: string, subject: string): boolean {
  const tokens = pattern.split(".");
  const parts = tokens.map((t, i) => {
    if (t === "*") return "[^.]+";
    if (t === ">" && i === tokens.length - 1) return "[^.]+(?:\\.[^.]+)*";
    return t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return new RegExp(`^${parts.join("\\.")}$`).test(subject);
}

const patternToken = fc.constantFrom("a", "b", "ab", "*", ">");
const subjectToken = fc.constantFrom("a", "b", "ab", "c", ">", "*", "");
const patternArb = fc.array(patternToken, { minLength: 1, maxLength: 5 }).map((t) => t.join("."));
const subjectArb = fc.array(subjectToken, { minLength: 1, maxLength: 6 }).map((t) => t.join("."));

/** Every subject of 1..maxLength tokens over a small alphabet with a token no pattern names. */
function allSubjects(maxLength: number): string[] {
  const alphabet = ["a", "b", ">", "z"];
  let level = alphabet.map((t) => [t]);
  const out: string[] = [];
  for (let n = 1; n <= maxLength; n++) {
    out.push(...level.map((t) => t.join(".")));
    level = level.flatMap((t) => alphabet.map((a) => [...t, a]));
  }
  return out;
}
const SUBJECTS_UP_TO_5 = allSubjects(5);

describe("subjectMatches", () => {
  const rows: ReadonlyArray<readonly [pattern: string, subject: string, expected: boolean]> = [
    ["a", "a", true],
    ["a", "b", false],
    ["a", "a.b", false],
    ["a.b", "a", false],
    ["*", "a", true],
    ["*", "a.b", false],
    ["a.*", "a.b", true],
    ["a.*", "a", false],
    ["a.*", "a.b.c", false],
    ["*.*", "md.x", true],
    ["a.*.c", "a.b.c", true],
    ["a.*.c", "a.b.d", false],
    [">", "a", true],
    [">", "a.b.c", true],
    ["a.>", "a", false],
    ["a.>", "a.b", true],
    ["a.>", "a.b.c.d", true],
    ["a.>", "b.c", false],
    ["md.*.>", "md.src", false],
    ["md.*.>", "md.src.x", true],
    ["md.*.>", "md.src.x.y", true],
    ["sc.*.*.>", "sc.LIVE.orders.new", true],
    ["sc.*.*.>", "sc.LIVE.orders", false],
    ["a.>.b", "a.>.b", true],
    ["a.>.b", "a.x.b", false],
    ["a*", "ab", false],
    ["a*", "a*", true],
    ["state-changes", "state-changes", true],
    // malformed subjects match nothing
    ["*", "", false],
    [">", "", false],
    ["a.*", "a.", false],
    [">", "a..b", false],
    ["*.a", ".a", false],
  ];
  for (const [pattern, subject, expected] of rows) {
    it(`${JSON.stringify(pattern)} ${expected ? "matches" : "does not match"} ${JSON.stringify(subject)}`, () => {
      assert.equal(subjectMatches(pattern, subject), expected);
    });
  }

  it("agrees with the reference matcher (property)", () => {
    fc.assert(
      fc.property(patternArb, subjectArb, (p, s) => subjectMatches(p, s) === referenceMatches(p, s)),
      { numRuns: 5000 },
    );
  });

  it("a pattern without wildcards matches exactly itself (property)", () => {
    const literal = fc.array(fc.constantFrom("a", "b", "c-d", "e_1"), { minLength: 1, maxLength: 5 }).map((t) => t.join("."));
    fc.assert(fc.property(literal, literal, (p, s) => subjectMatches(p, s) === (p === s)));
  });

  it("`>` matches every well-formed subject (property)", () => {
    const wellFormed = fc.array(fc.constantFrom("a", "b", "c"), { minLength: 1, maxLength: 8 }).map((t) => t.join("."));
    fc.assert(fc.property(wellFormed, (s) => subjectMatches(">", s)));
  });
});

describe("patternProblem", () => {
  const valid = ["a", "*", ">", "a.*", "a.>", "*.*.>", "{self}.*", "sc.LIVE.>", "md.src_1.x-y", "a.*.b"];
  for (const p of valid) {
    it(`accepts ${JSON.stringify(p)}`, () => assert.equal(patternProblem(p), undefined));
  }
  const invalid: ReadonlyArray<readonly [string, RegExp]> = [
    ["", /empty/],
    ["a..b", /empty token/],
    [".a", /empty token/],
    ["a.", /empty token/],
    [">.a", /">" may only be the last token/],
    ["a.>.b", /">" may only be the last token/],
    ["A.b", /token "A"/],
    ["a*", /token "a\*"/],
    ["a b", /token "a b"/],
    ["{other}", /token "\{other\}"/],
    ["$SYS.>", /token "\$SYS"/],
    ["a".repeat(256), /256 characters/],
  ];
  for (const [p, re] of invalid) {
    it(`rejects ${JSON.stringify(p.length > 20 ? `${p.slice(0, 20)}...` : p)}`, () => {
      const problem = patternProblem(p);
      assert.ok(problem !== undefined, "expected a problem");
      assert.match(problem, re);
    });
  }
});

describe("expandSelf", () => {
  const rows: ReadonlyArray<readonly [string, string, string]> = [
    ["{self}.*", "workmanager", "workmanager.*"],
    ["sc.LIVE.{self}", "a", "sc.LIVE.a"],
    ["{self}.>", "a", "a.>"],
    ["x.{self}.y", "a", "x.a.y"],
    ["md.>", "a", "md.>"],
    ["{self}x.*", "a", "{self}x.*"],
  ];
  for (const [pattern, service, expected] of rows) {
    it(`${pattern} for ${service} is ${expected}`, () => assert.equal(expandSelf(pattern, service), expected));
  }
});

describe("hasWildcard", () => {
  for (const [s, expected] of [["a.b", false], ["a.*", true], ["a.>", true], [">", true], ["a*", false]] as const) {
    it(`${s}: ${expected}`, () => assert.equal(hasWildcard(s), expected));
  }
});

describe("patternCovers", () => {
  const rows: ReadonlyArray<readonly [general: string, specific: string, expected: boolean]> = [
    [">", ">", true],
    [">", "a.*", true],
    [">", "a", true],
    ["a.>", "a.>", true],
    ["a.>", "a.*", true],
    ["a.>", "a.b.>", true],
    ["a.>", "a", false],
    ["a.>", ">", false],
    ["a.*", "a.>", false],
    ["a.*", "a.b", true],
    ["a.*", "a.*", true],
    ["a.b", "a.*", false],
    ["*", ">", false],
    ["*.*", "a.*", true],
    ["a.*.c", "a.*.c", true],
    ["a.*.c", "a.*.d", false],
  ];
  for (const [g, s, expected] of rows) {
    it(`${JSON.stringify(g)} ${expected ? "covers" : "does not cover"} ${JSON.stringify(s)}`, () => {
      assert.equal(patternCovers(g, s), expected);
    });
  }

  it("covers exactly when every subject the specific pattern matches, the general one matches (property)", () => {
    const small = fc.array(fc.constantFrom("a", "b", "*", ">"), { minLength: 1, maxLength: 4 }).map((t) => t.join("."));
    fc.assert(
      fc.property(small, small, (g, s) => {
        const counterexample = SUBJECTS_UP_TO_5.find((x) => subjectMatches(s, x) && !subjectMatches(g, x));
        return patternCovers(g, s) === (counterexample === undefined);
      }),
      { numRuns: 1000 },
    );
  });
});
