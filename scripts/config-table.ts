// The README's configuration table, from the settings schema.
// `npx tsx scripts/config-table.ts` prints it; `--write` replaces the table in README.md.
import { readFileSync, writeFileSync } from "node:fs";
import { settings } from "../src/config/schema.js";

const rows = settings.map((s) => {
  const text = Array.isArray(s.default) ? s.default.join(",") : String(s.default);
  const def = text === "" ? "(none)" : text;
  const env = s.env.map((e) => `\`${e}\``).join(", ");
  return `| \`--${s.flag}\` | ${env} | \`${s.key}\` | \`${def}\` | ${s.description} |`;
});
const table = ["| flag | environment | config file key | default | meaning |", "|---|---|---|---|---|", ...rows].join("\n");

if (process.argv.includes("--write")) {
  const path = new URL("../README.md", import.meta.url);
  const readme = readFileSync(path, "utf8");
  const start = readme.indexOf("| flag | environment |");
  const end = readme.indexOf("\n\n", start);
  if (start < 0 || end < 0) throw new Error("README.md has no configuration table to replace");
  writeFileSync(path, readme.slice(0, start) + table + readme.slice(end));
  console.log("README.md configuration table updated");
} else {
  console.log(table);
}
