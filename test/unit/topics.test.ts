import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_TOPIC_LENGTH, STATE_CHANGES_TOPIC, topicProblem } from "../../src/topics/topics.js";

/** A topic of exactly `n` characters: "a.a.a..." padded to length. */
function topicOfLength(n: number): string {
  const s = "ab.".repeat(Math.ceil(n / 3)).slice(0, n);
  return s.endsWith(".") ? `${s.slice(0, -1)}c` : s;
}

describe("topicProblem", () => {
  it("has the limits of CONTRACT.md", () => {
    assert.equal(MAX_TOPIC_LENGTH, 255);
    assert.equal(STATE_CHANGES_TOPIC, "state-changes");
  });

  const valid: ReadonlyArray<readonly [string, string]> = [
    ["single letter", "a"],
    ["single digit", "7"],
    ["service lifecycle topic", "workmanager.workerstatus"],
    ["state changes", "state-changes"],
    ["market data lane", "md.src.x"],
    ["LIVE scenario lane", "sc.LIVE.orders.new"],
    ["scenario id with dash and digit", "sc.abc-1.orders"],
    ["underscore inside a token", "a_b.c_d"],
    ["underscore-only token", "_.x"],
    ["dash-only token", "-"],
    ["LIVE alone as the scenario token", "sc.LIVE"],
    ["exactly 255 characters", topicOfLength(255)],
  ];
  for (const [name, topic] of valid) {
    it(`accepts ${name}: ${JSON.stringify(topic.length > 40 ? `${topic.slice(0, 40)}...` : topic)}`, () => {
      assert.equal(topicProblem(topic), undefined);
    });
  }

  const invalid: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["empty", "", /empty/],
    ["double dot", "a..b", /empty token/],
    ["leading dot", ".a", /empty token/],
    ["trailing dot", "a.", /empty token/],
    ["lone dot", ".", /empty token/],
    ["star wildcard", "*", /lower-case/],
    ["tail wildcard", ">", /lower-case/],
    ["token wildcard", "a.*", /lower-case/],
    ["tail wildcard token", "a.>", /lower-case/],
    ["upper case", "A", /lower-case/],
    ["mixed case", "Foo.bar", /"Foo"/],
    ["LIVE outside the scenario lane", "LIVE.x", /"LIVE"/],
    ["LIVE in the wrong position of sc.", "sc.live2.LIVE", /"LIVE"/],
    ["LIVE in a service topic", "x.LIVE", /"LIVE"/],
    ["LIVE in another case", "sc.Live.x", /"Live"/],
    ["scenario lane with upper-case id", "sc.ABC.orders", /"ABC"/],
    ["space", "a b", /lower-case/],
    ["leading space", " a", /lower-case/],
    ["tab", "a\tb", /lower-case/],
    ["newline at the end", "a\n", /lower-case/],
    ["non-ASCII letter", "caf\u00e9", /lower-case/],
    ["emoji", "a.\u{1f600}", /lower-case/],
    ["slash", "a/b", /lower-case/],
    ["colon", "a:b", /lower-case/],
    ["NUL", "a\u0000b", /lower-case/],
    ["256 characters", topicOfLength(256), /256 characters long; the limit is 255/],
    ["NATS system subject", "$SYS.x", /lower-case/],
    ["NATS inbox (upper case)", "_INBOX.x", /"_INBOX"/],
  ];
  for (const [name, topic, message] of invalid) {
    it(`rejects ${name}: ${JSON.stringify(topic.length > 40 ? `${topic.slice(0, 40)}...` : topic)}`, () => {
      const problem = topicProblem(topic);
      assert.equal(typeof problem, "string");
      assert.match(problem ?? "", message);
    });
  }

  it("the length fixtures really have the lengths they claim", () => {
    assert.equal(topicOfLength(255).length, 255);
    assert.equal(topicOfLength(256).length, 256);
  });

  const tokenChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789_-".split(""));
  const token = fc.array(tokenChar, { minLength: 1, maxLength: 24 }).map((cs) => cs.join(""));

  it("property: valid tokens joined by '.' are accepted when at most 255 characters", () => {
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 16 }), (tokens) => {
        const topic = tokens.join(".");
        fc.pre(topic.length <= MAX_TOPIC_LENGTH);
        assert.equal(topicProblem(topic), undefined);
      }),
      { numRuns: 500 },
    );
  });

  it("property: a scenario lane topic with LIVE as the scenario token is accepted", () => {
    fc.assert(
      fc.property(fc.array(token, { minLength: 0, maxLength: 8 }), (rest) => {
        const topic = ["sc", "LIVE", ...rest].join(".");
        fc.pre(topic.length <= MAX_TOPIC_LENGTH);
        assert.equal(topicProblem(topic), undefined);
      }),
    );
  });

  it("property: valid tokens joined to more than 255 characters are rejected", () => {
    fc.assert(
      fc.property(fc.array(token, { minLength: 11, maxLength: 40 }), (tokens) => {
        const topic = tokens.join(".");
        fc.pre(topic.length > MAX_TOPIC_LENGTH);
        assert.notEqual(topicProblem(topic), undefined);
      }),
    );
  });

  it("property: any string holding a character outside [a-zA-Z0-9_.-] is rejected", () => {
    const anyText = fc.string({ unit: "binary", maxLength: 40 });
    const badChar = fc
      .string({ unit: "binary", minLength: 1, maxLength: 1 })
      .filter((c) => !/^[a-zA-Z0-9_.-]$/.test(c));
    fc.assert(
      fc.property(anyText, badChar, anyText, (before, bad, after) => {
        assert.notEqual(topicProblem(before + bad + after), undefined);
      }),
      { numRuns: 1000 },
    );
  });

  it("property: a valid topic with one character upper-cased is rejected", () => {
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 6 }), fc.nat(), (tokens, at) => {
        const topic = tokens.join(".");
        const letters = [...topic].map((c, i) => [c, i] as const).filter(([c]) => /[a-z]/.test(c));
        fc.pre(letters.length > 0);
        const [, i] = letters[at % letters.length] ?? ["", 0];
        const changed = topic.slice(0, i) + topic.charAt(i).toUpperCase() + topic.slice(i + 1);
        assert.notEqual(topicProblem(changed), undefined);
      }),
    );
  });
});
