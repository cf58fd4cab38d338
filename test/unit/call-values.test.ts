/**
 * CallValues (src/server/call-values.ts) behaves as Connect's createContextValues: the same
 * answers for the same script of set, get, delete and defaults, side by side.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import { CallValues } from "../../src/server/call-values.js";

const name = createContextKey("anonymous", { description: "name" });
const count = createContextKey(0);
const maybe = createContextKey<string | undefined>(undefined);

function script(values: ContextValues): unknown[] {
  const seen: unknown[] = [];
  seen.push(values.get(name), values.get(count), values.get(maybe));
  assert.equal(values.set(name, "ada"), values, "set returns the same values");
  values.set(count, 3).set(maybe, undefined);
  seen.push(values.get(name), values.get(count), values.get(maybe));
  assert.equal(values.delete(name), values, "delete returns the same values");
  values.delete(maybe);
  seen.push(values.get(name), values.get(count), values.get(maybe));
  values.set(name, "grace");
  seen.push(values.get(name));
  return seen;
}

describe("CallValues", () => {
  it("answers exactly as Connect's createContextValues", () => {
    const expected = script(createContextValues());
    assert.deepEqual(expected, ["anonymous", 0, undefined, "ada", 3, undefined, "anonymous", 3, undefined, "grace"]);
    assert.deepEqual(script(new CallValues()), expected);
  });

  it("keeps a value set to undefined apart from an absent one, as Connect does", () => {
    const withDefault = createContextKey<string | undefined>("fallback");
    for (const values of [createContextValues(), new CallValues()]) {
      values.set(withDefault, undefined);
      assert.equal(values.get(withDefault), undefined);
      values.delete(withDefault);
      assert.equal(values.get(withDefault), "fallback");
    }
  });

  it("keeps two calls' values apart", () => {
    const a = new CallValues().set(name, "a");
    const b = new CallValues();
    assert.equal(a.get(name), "a");
    assert.equal(b.get(name), "anonymous");
  });
});
