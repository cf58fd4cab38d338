#!/usr/bin/env node
// Builds the gateway as a Node.js single executable application (SEA) in dist/sea/:
//
//   virtufin-api             a copy of this node binary with the gateway injected (NODE_SEA_BLOB)
//   virtufin-api.cjs (+.map) the SEA main script: one CommonJS file built by esbuild (Node 20's
//                            SEA runs CommonJS only); kept for reference / stack-trace lookups
//   config/services.json    the shipped services file (found at <exe dir>/config/services.json)
//   node_modules/            lmdb and its run-time dependencies: native addons cannot be embedded,
//                            the SEA requires them from here (createRequire(<exe dir>/node_modules/))
//
//   node scripts/build-sea.mjs
//   dist/sea/virtufin-api --data-dir ./data
//
// Steps: esbuild (format=cjs) -> `node --experimental-sea-config sea-config.json` (blob) ->
// copy process.execPath -> postject NODE_SEA_BLOB with the SEA fuse. Needs postject
// (devDependency postject@1.0.0-alpha.6). Linux/ELF only as written (no macOS codesign steps).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, buildSeaMain, copyConfig, copyNativeModules, dirSize, mb } from "./build-bundle.mjs";
import { buildDashboard } from "./build-dashboard.mjs";

const SENTINEL_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

function loadPostject() {
  try {
    return createRequire(join(ROOT, "package.json"))("postject");
  } catch (err) {
    throw new Error(
      `postject is not installed (${err.code ?? err.message}): npm i -D postject@1.0.0-alpha.6, or npm i --no-save postject@1.0.0-alpha.6`,
    );
  }
}

async function main() {
  const outDir = resolve(ROOT, process.argv[2] ?? "dist/sea");
  const exe = join(outDir, process.platform === "win32" ? "virtufin-api.exe" : "virtufin-api");
  const mainFile = join(outDir, "virtufin-api.cjs");
  const blob = join(outDir, "sea-prep.blob");
  const seaConfig = join(outDir, "sea-config.json");
  const t0 = performance.now();
  const postject = loadPostject();

  console.log(`[sea] node ${process.version} (${process.execPath})`);
  console.log(`[sea] cleaning ${relative(ROOT, outDir)}/`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });

  console.log("[sea] esbuild: src/main.ts -> CommonJS (node20), native externals loaded from <exe dir>/node_modules");
  await buildSeaMain(mainFile);
  console.log(`[sea] ${relative(ROOT, mainFile)} ${mb(dirSize(mainFile))}`);

  writeFileSync(
    seaConfig,
    JSON.stringify({ main: mainFile, output: blob, disableExperimentalSEAWarning: true }, null, 2) + "\n",
  );
  console.log(`[sea] ${process.execPath} --experimental-sea-config ${relative(ROOT, seaConfig)}`);
  execFileSync(process.execPath, ["--experimental-sea-config", seaConfig], { stdio: "inherit", cwd: outDir });

  console.log(`[sea] copying ${process.execPath} -> ${relative(ROOT, exe)}`);
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);

  console.log(`[sea] postject ${relative(ROOT, exe)} NODE_SEA_BLOB ${relative(ROOT, blob)} --sentinel-fuse ${SENTINEL_FUSE}`);
  await postject.inject(exe, "NODE_SEA_BLOB", readFileSync(blob), {
    sentinelFuse: SENTINEL_FUSE,
    machoSegmentName: process.platform === "darwin" ? "NODE_SEA" : undefined,
  });
  rmSync(blob);

  copyConfig(outDir);
  // The executable serves <its folder>/dashboard at /dashboard/, as the bundle does.
  console.log("[sea] dashboard -> dashboard/");
  await buildDashboard(join(outDir, "dashboard"), { quiet: true });
  console.log("[sea] node_modules for the native externals:");
  for (const p of copyNativeModules(outDir)) console.log(`[sea]   ${p}`);

  console.log(`[sea] executable ${relative(ROOT, exe)} ${mb(dirSize(exe))} (node binary ${mb(dirSize(process.execPath))})`);
  console.log(`[sea] node_modules ${mb(dirSize(join(outDir, "node_modules")))}; total ${relative(ROOT, outDir)}/ ${mb(dirSize(outDir))}`);
  console.log(`[sea] built in ${((performance.now() - t0) / 1000).toFixed(1)} s; run: ${relative(process.cwd(), exe)} --data-dir ./data`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error("[sea] failed:", err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
