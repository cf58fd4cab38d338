import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_PAGE_SIZE,
  descriptionProblem,
  effectivePageSize,
  LIVE_SCENARIO_ID,
  MAX_DESCRIPTION_LENGTH,
  MAX_PAGE_SIZE,
  pageSizeProblem,
  SCENARIO_ACTIONS,
  SCENARIO_STATUSES,
  scenarioIdProblem,
  transition,
  type ScenarioAction,
  type ScenarioStatus,
  type TransitionResult,
} from "../../src/scenarios/rules.js";

type Expected = { next: ScenarioStatus | "deleted" } | { code: Exclude<TransitionResult, { ok: true }>["code"] };

/** Every (current status, action) pair; `undefined` is "no record". */
const TABLE: ReadonlyArray<readonly [ScenarioStatus | undefined, ScenarioAction, Expected]> = [
  [undefined, "create", { next: "active" }],
  [undefined, "pause", { code: "not_found" }],
  [undefined, "resume", { code: "not_found" }],
  [undefined, "archive", { code: "not_found" }],
  [undefined, "delete", { code: "not_found" }],

  ["active", "create", { code: "already_exists" }],
  ["active", "pause", { next: "paused" }],
  ["active", "resume", { code: "failed_precondition" }],
  ["active", "archive", { next: "archived" }],
  ["active", "delete", { code: "failed_precondition" }],

  ["paused", "create", { code: "already_exists" }],
  ["paused", "pause", { code: "failed_precondition" }],
  ["paused", "resume", { next: "active" }],
  ["paused", "archive", { next: "archived" }],
  ["paused", "delete", { code: "failed_precondition" }],

  ["archived", "create", { code: "already_exists" }],
  ["archived", "pause", { code: "failed_precondition" }],
  ["archived", "resume", { code: "failed_precondition" }],
  ["archived", "archive", { code: "failed_precondition" }],
  ["archived", "delete", { next: "deleted" }],
];

describe("transition", () => {
  it("the table covers every (status, action) pair exactly once", () => {
    const pairs = new Set(TABLE.map(([s, a]) => `${s ?? "none"}/${a}`));
    assert.equal(pairs.size, TABLE.length);
    assert.equal(TABLE.length, (SCENARIO_STATUSES.length + 1) * SCENARIO_ACTIONS.length);
  });

  for (const [current, action, expected] of TABLE) {
    const label = `${current ?? "(no record)"} --${action}--> ${"next" in expected ? expected.next : expected.code}`;
    it(label, () => {
      const got = transition(current, action, "sc-1");
      if ("next" in expected) {
        assert.deepEqual(got, { ok: true, next: expected.next });
        return;
      }
      assert.equal(got.ok, false);
      if (got.ok) return;
      assert.equal(got.code, expected.code);
      assert.match(got.message, /"sc-1"/, "the message names the scenario");
      assert.match(got.message, new RegExp(`\\b${current ?? "not found"}\\b`), "the message names the current status");
    });
  }

  describe("LIVE is reserved", () => {
    for (const current of [undefined, ...SCENARIO_STATUSES]) {
      for (const action of SCENARIO_ACTIONS) {
        it(`${action} of LIVE (stored status ${current ?? "none"}) is INVALID_ARGUMENT naming it always active`, () => {
          const got = transition(current, action, LIVE_SCENARIO_ID);
          assert.equal(got.ok, false);
          if (got.ok) return;
          assert.equal(got.code, "invalid_argument");
          assert.match(got.message, /LIVE is reserved/);
          assert.match(got.message, /always active/);
        });
      }
    }
  });

  it("an invalid id is INVALID_ARGUMENT whatever the action", () => {
    for (const action of SCENARIO_ACTIONS) {
      const got = transition(undefined, action, "Bad_Id");
      assert.equal(got.ok, false);
      if (!got.ok) assert.equal(got.code, "invalid_argument");
    }
  });
});

describe("scenarioIdProblem", () => {
  const valid: ReadonlyArray<readonly [string, string]> = [
    ["one letter", "a"],
    ["one digit", "7"],
    ["digit first", "0abc"],
    ["dashes inside", "q3-backtest-2"],
    ["trailing dash", "a-"],
    ["63 characters", `a${"b".repeat(62)}`],
    ["the reserved LIVE (readable, publishable)", "LIVE"],
  ];
  for (const [name, id] of valid) {
    it(`accepts ${name}`, () => assert.equal(scenarioIdProblem(id), undefined));
  }

  const invalid: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["empty", "", /required/],
    ["leading dash", "-a", /must start with a lower-case letter or digit/],
    ["upper case", "A", /lower-case/],
    ["64 characters", `a${"b".repeat(63)}`, /64 characters long; the limit is 63/],
    ["underscore", "a_b", /lower-case letters, digits and "-"/],
    ["dot", "a.b", /lower-case letters, digits and "-"/],
    ["lower-case live", "Live", /lower-case/],
    ["space", "a b", /lower-case/],
    ["wildcard", "*", /must start/],
    ["non-ASCII", "caf\u00e9", /\\u\{e9\}/],
    ["control character", "a\nb", /\\u\{a\}/],
  ];
  for (const [name, id, why] of invalid) {
    it(`refuses ${name}: ${JSON.stringify(id.length > 20 ? `${id.slice(0, 20)}...` : id)}`, () => {
      const problem = scenarioIdProblem(id);
      assert.ok(problem !== undefined);
      assert.match(problem, why);
    });
  }

  it("LIVE can be neither created nor deleted, though it is a valid id", () => {
    for (const action of ["create", "delete"] as const) {
      const got = transition(undefined, action, "LIVE");
      assert.equal(got.ok, false);
      if (!got.ok) assert.deepEqual([got.code, /LIVE is reserved/.test(got.message)], ["invalid_argument", true]);
    }
  });
});

describe("descriptions and page sizes", () => {
  it("limits the description length", () => {
    assert.equal(descriptionProblem(""), undefined);
    assert.equal(descriptionProblem("x".repeat(MAX_DESCRIPTION_LENGTH)), undefined);
    assert.match(descriptionProblem("x".repeat(MAX_DESCRIPTION_LENGTH + 1)) ?? "", /limit is 1024/);
  });

  it("defaults 0 to 100, clamps to 1000, refuses negatives", () => {
    assert.deepEqual([DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE], [100, 1000]);
    assert.equal(effectivePageSize(0), 100);
    assert.equal(effectivePageSize(1), 1);
    assert.equal(effectivePageSize(1000), 1000);
    assert.equal(effectivePageSize(5000), 1000);
    assert.equal(pageSizeProblem(0), undefined);
    assert.equal(pageSizeProblem(7), undefined);
    assert.match(pageSizeProblem(-1) ?? "", /page_size/);
  });
});
