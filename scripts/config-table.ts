// Prints the README's configuration table from the settings schema: `npx tsx scripts/config-table.ts`.
import { settings } from "../src/config/schema.js";

const rows = settings.map((s) => {
  const text = Array.isArray(s.default) ? s.default.join(",") : String(s.default);
  const def = text === "" ? "(none)" : text;
  const env = s.env.map((e) => `\`${e}\``).join(", ");
  return `| \`--${s.flag}\` | ${env} | \`${s.key}\` | \`${def}\` | ${s.description} |`;
});
console.log(["| flag | environment | config file key | default | meaning |", "|---|---|---|---|---|", ...rows].join("\n"));
