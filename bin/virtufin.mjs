#!/usr/bin/env node
// The `virtufin` command: runs the compiled CLI from dist/ (built by `npm run build`). It does not
// fall back to the TypeScript sources: a stale or half-built tree should say so, not run by accident.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const entry = fileURLToPath(new URL("../dist/src/cli/main.js", import.meta.url));
if (!existsSync(entry)) {
  process.stderr.write(`virtufin: ${entry} is missing: run \`npm run build\` in ${fileURLToPath(new URL("..", import.meta.url))} first\n`);
  process.exitCode = 2;
} else {
  const { main } = await import(pathToFileURL(entry).href);
  await main(process.argv.slice(2));
}
