#!/usr/bin/env node
// Runs the test suite with node:test through tsx. Node 20's runner takes no globs, so the
// test files are listed here: every *.test.ts under the given folders (default: test/).
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

const roots = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith("--"));
const files = (roots.length > 0 ? roots : ["test"]).flatMap((r) =>
  statSync(r).isDirectory() ? findTests(r) : [r],
);
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
console.log(`running ${files.length} test files`);
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...passThrough, ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
