#!/usr/bin/env node
// Builds the browser dashboard into dist/dashboard/ (served by the gateway at /dashboard/):
//
//   node scripts/build-dashboard.mjs [outDir]
//
//   index.html               dashboard/index.html with the hashed asset names filled in
//   main-<HASH>.js (+ .map)  dashboard/src/main.ts and everything it imports, minified (esbuild)
//   style-<HASH>.css (+ .map)
//   build.json               what was built; its presence marks the folder as a built dashboard
//
// The hashed names never change content, so the gateway lets browsers cache them for a year;
// index.html is revalidated on every load. No type check here (esbuild only strips types): the
// dashboard is type-checked with `tsc --noEmit -p dashboard/tsconfig.json`.
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE = join(ROOT, "dashboard");

/** Builds the dashboard into outDir (default dist/dashboard); returns the files written with their sizes. */
export async function buildDashboard(outDir = join(ROOT, "dist/dashboard"), { quiet = false } = {}) {
  const log = quiet ? () => {} : (line) => console.log(`[dashboard] ${line}`);
  const t0 = performance.now();
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });

  const result = await build({
    entryPoints: { main: join(SOURCE, "src/main.ts"), style: join(SOURCE, "style.css") },
    outdir: outDir,
    entryNames: "[name]-[hash]",
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["chrome111", "firefox115", "safari16.4"],
    minify: true,
    sourcemap: "linked",
    sourcesContent: true,
    legalComments: "none",
    logLevel: "warning",
    absWorkingDir: ROOT,
    tsconfig: join(SOURCE, "tsconfig.json"),
    metafile: true,
  });

  const assets = {};
  for (const [out, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.entryPoint === undefined) continue;
    const entry = basename(meta.entryPoint).replace(/\.(ts|css)$/, "");
    assets[entry] = basename(out);
  }
  if (assets.main === undefined || assets.style === undefined) throw new Error(`esbuild did not produce main and style: ${JSON.stringify(assets)}`);

  const template = readFileSync(join(SOURCE, "index.html"), "utf8");
  for (const placeholder of ["%MAIN_JS%", "%STYLE_CSS%"])
    if (!template.includes(placeholder)) throw new Error(`dashboard/index.html lacks the placeholder ${placeholder}`);
  writeFileSync(join(outDir, "index.html"), template.replace("%MAIN_JS%", assets.main).replace("%STYLE_CSS%", assets.style));

  const files = Object.keys(result.metafile.outputs).map((p) => basename(p)).concat("index.html").sort();
  const sizes = files.map((name) => {
    const body = readFileSync(join(outDir, name));
    return { name, bytes: body.length, gzipBytes: gzipSync(body).length };
  });
  writeFileSync(join(outDir, "build.json"), `${JSON.stringify({ builtAt: new Date().toISOString(), assets, files: sizes }, null, 2)}\n`);

  log(`esbuild: dashboard/src/main.ts + dashboard/style.css -> ${relative(ROOT, outDir) || "."}/ (minified, source maps)`);
  for (const { name, bytes, gzipBytes } of sizes) log(`  ${name.padEnd(28)} ${kb(bytes).padStart(9)}  (gzip ${kb(gzipBytes)})`);
  log(`built in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  return { outDir, assets, files: sizes };
}

const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildDashboard(process.argv[2] ? resolve(process.argv[2]) : undefined).catch((err) => {
    console.error("[dashboard] build failed:", err);
    process.exit(1);
  });
}
