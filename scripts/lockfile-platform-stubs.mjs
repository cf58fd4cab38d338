#!/usr/bin/env node
// The npm registry reachable here does not serve some platform-specific optional packages
// (buf and msgpackr-extract binaries for macOS, Windows, 32-bit ARM), so `npm install` leaves
// them out of package-lock.json and `npm ci` then refuses the lock as out of sync. This adds an
// entry for each missing one, marked optional and restricted to its platform, so `npm ci` accepts
// the lock and skips them on Linux x64 as it skips every foreign-platform package.
// Run after `npm install` changes the lock: `node scripts/lockfile-platform-stubs.mjs`.
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const platform = (name) => {
  const m = /-(darwin|linux|win32|freebsd|android)-(arm64|x64|armv7|arm|aarch64|ia32|universal)$/.exec(name);
  if (!m) return undefined;
  const cpu = { armv7: "arm", aarch64: "arm64" }[m[2]] ?? m[2];
  return { os: [m[1]], ...(cpu === "universal" ? {} : { cpu: [cpu] }) };
};
let added = 0;
for (const [, pkg] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    const where = platform(dep);
    if (lock.packages[key] !== undefined || where === undefined || !/^\d+\.\d+\.\d+$/.test(version)) continue;
    lock.packages[key] = { version, ...where, optional: true };
    added++;
    console.log(`stub: ${dep}@${version} (${where.os}/${where.cpu ?? "any"})`);
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`${added} platform stubs added`);
