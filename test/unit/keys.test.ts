import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { KEY_SEPARATOR, keyProblem, storeKey } from "../../src/state/keys.js";

const MAX = 256;
const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

describe("keyProblem", () => {
  const accepted: readonly string[] = [
    "k1",
    "user:42",
    "scenario.abc",
    "a/b",
    "a_b",
    "x@y",
    "A-Z.0_9:@/-",
    "0",
    "a".repeat(MAX),
    "a.b.c",
    "a/./b",
  ];
  for (const key of accepted) {
    it(`accepts ${JSON.stringify(key.length > 40 ? `${key.slice(0, 20)}...(${key.length})` : key)}`, () => {
      assert.equal(keyProblem(key, MAX), undefined);
    });
  }

  const rejected: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["Dapr separator", "a||b", /must not contain "\|\|"/],
    ["single pipe", "a|b", /letters, digits/],
    ["parent segment at the start", "../x", /letters, digits/],
    ["parent segment inside", "a/../x", /must not contain "\.\."/],
    ["double dot", "a..b", /must not contain "\.\."/],
    ["absolute path", "/etc/passwd", /must start with a letter or digit/],
    ["NUL", "a\u0000b", /\\u\{0\}/],
    ["newline", "a\nb", /\\u\{a\}/],
    ["trailing newline", "a\n", /letters, digits/],
    ["escape", "a\u001bb", /\\u\{1b\}/],
    ["DEL", "a\u007fb", /\\u\{7f\}/],
    ["space", "a b", /letters, digits/],
    ["empty", "", /empty/],
    ["percent", "%", /letters, digits/],
    ["percent-encoded", "a%2Fb", /letters, digits/],
    ["underscore alone", "_", /must start with a letter or digit/],
    ["leading underscore", "_a", /must start with a letter or digit/],
    ["leading dot", ".a", /must start with a letter or digit/],
    ["star", "*", /letters, digits/],
    ["question mark", "?", /letters, digits/],
    ["bracket", "[", /letters, digits/],
    ["key glob", "a*", /letters, digits/],
    ["backslash", "a\\b", /letters, digits/],
    ["non-ASCII", "caf\u00e9", /\\u\{e9\}/],
    ["257 bytes", "a".repeat(MAX + 1), /257 bytes long; the limit is 256/],
  ];
  for (const [name, key, message] of rejected) {
    it(`rejects ${name}`, () => {
      const problem = keyProblem(key, MAX);
      assert.equal(typeof problem, "string");
      assert.match(problem ?? "", message);
    });
  }

  it("measures the limit in UTF-8 bytes, not UTF-16 code units", () => {
    const emoji = "\u{1f600}"; // 4 UTF-8 bytes, 2 UTF-16 code units
    const key = emoji.repeat(65); // 260 bytes, 130 code units
    assert.equal(key.length, 130);
    assert.match(keyProblem(key, MAX) ?? "", /260 bytes long; the limit is 256/);
    // Under the byte limit, the emoji is still not an allowed character.
    assert.match(keyProblem(emoji, MAX) ?? "", /letters, digits/);
    // A multi-byte key under the limit in code units but over it in bytes: "é" is 2 bytes.
    assert.match(keyProblem("\u00e9".repeat(129), MAX) ?? "", /258 bytes long/);
  });

  it("uses the limit it is given", () => {
    assert.equal(keyProblem("abcd", 4), undefined);
    assert.match(keyProblem("abcde", 4) ?? "", /5 bytes long; the limit is 4/);
  });

  it("never echoes control characters raw in its message", () => {
    const problem = keyProblem("a\u0000\u0007\r\nb", MAX) ?? "";
    assert.doesNotMatch(problem, /[\u0000-\u001f]/);
  });

  it("property: accepted keys hold only allow-listed characters and never || or ..", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 30 }), (key) => {
        if (keyProblem(key, MAX) === undefined) {
          assert.match(key, /^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/);
          assert.ok(!key.includes("||") && !key.includes(".."));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("storeKey", () => {
  it("joins service and key with the Dapr separator", () => {
    assert.equal(KEY_SEPARATOR, "||");
    assert.equal(storeKey("workmanager", "user:42"), "workmanager||user:42");
  });

  it('keeps ("a","b.c") and ("a.b","c") apart', () => {
    assert.notEqual(storeKey("a", "b.c"), storeKey("a.b", "c"));
    // "a.b" is not even a service name, so the pair is outside the domain twice over.
    assert.doesNotMatch("a.b", SERVICE_NAME);
  });

  it('keeps ("a","b-c") and ("a-b","c") apart', () => {
    assert.notEqual(storeKey("a", "b-c"), storeKey("a-b", "c"));
  });

  const serviceArb = fc.stringMatching(SERVICE_NAME);
  const keyArb = fc
    .stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,40}$/)
    .filter((k) => keyProblem(k, MAX) === undefined);

  it("property: the store key decodes back to its (service, key) pair", () => {
    fc.assert(
      fc.property(serviceArb, keyArb, (service, key) => {
        const stored = storeKey(service, key);
        const at = stored.indexOf(KEY_SEPARATOR);
        assert.equal(stored.slice(0, at), service);
        assert.equal(stored.slice(at + KEY_SEPARATOR.length), key);
      }),
      { numRuns: 1000 },
    );
  });

  it("property: distinct valid pairs never share a store key (small alphabets, many near-collisions)", () => {
    const smallService = fc.stringMatching(/^[ab][ab-]{0,3}$/);
    const smallKey = fc.stringMatching(/^[ab][ab.:/-]{0,4}$/).filter((k) => keyProblem(k, MAX) === undefined);
    const pair = fc.tuple(smallService, smallKey);
    fc.assert(
      fc.property(pair, pair, ([s1, k1], [s2, k2]) => {
        if (s1 === s2 && k1 === k2) return;
        assert.notEqual(storeKey(s1, k1), storeKey(s2, k2));
      }),
      { numRuns: 5000 },
    );
  });

  it("property: distinct valid pairs never share a store key (full domain)", () => {
    const pair = fc.tuple(serviceArb, keyArb);
    fc.assert(
      fc.property(pair, pair, ([s1, k1], [s2, k2]) => {
        fc.pre(s1 !== s2 || k1 !== k2);
        assert.notEqual(storeKey(s1, k1), storeKey(s2, k2));
      }),
      { numRuns: 1000 },
    );
  });
});
