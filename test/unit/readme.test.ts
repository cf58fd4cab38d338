import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { settings } from "../../src/config/schema.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("starts with the install-and-run command and the test command", () => {
    const firstBlock = readme.slice(readme.indexOf("```sh"), readme.indexOf("```", readme.indexOf("```sh") + 5));
    assert.match(firstBlock, /npm ci && npm start/);
    assert.match(firstBlock, /npm test/);
  });

  for (const s of settings) {
    it(`documents --${s.flag} with its environment variables and default`, () => {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`--${s.flag}\` |`));
      assert.ok(row, `no table row for --${s.flag}: run npx tsx scripts/config-table.ts`);
      for (const env of s.env) assert.ok(row.includes(`\`${env}\``), `${env} missing from the row`);
      const def = Array.isArray(s.default) ? s.default.join(",") : String(s.default);
      assert.ok(row.includes(`\`${def === "" ? "(none)" : def}\``), `default ${def} missing from the row`);
    });
  }
});
