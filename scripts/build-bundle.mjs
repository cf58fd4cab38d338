#!/usr/bin/env node
// Bundles the gateway into one JavaScript file with esbuild (the "native AOT" spirit: one file
// to ship, no node_modules tree), plus the minimal node_modules its native addon (lmdb) needs.
//
//   node scripts/build-bundle.mjs            # -> dist/bundle/
//   node --enable-source-maps dist/bundle/virtufin-api.mjs --data-dir ./data
//   node --enable-source-maps --import ./dist/bundle/telemetry-preload.mjs dist/bundle/virtufin-api.mjs
//
// dist/bundle/ is self-contained and movable:
//   virtufin-api.mjs (+ .map)       the gateway, every pure-JS dependency inlined
//   telemetry-preload.mjs (+ .map)  the OpenTelemetry preload, for `node --import`
//   config/services.json            the shipped services file
//   dashboard/                      the browser dashboard (scripts/build-dashboard.mjs), served at /dashboard/
//   node_modules/                   only lmdb and what it needs at run time (native .node files)
//
// Native addons cannot be bundled, so lmdb stays external; its dependency closure is computed by
// walking package.json dependencies/optionalDependencies through the real node_modules.
//
// src/app.ts finds the shipped services file at "../config/services.json" relative to its module
// URL. In the bundle, `import.meta.url` in src/ is replaced by the URL of a virtual module
// "<bundle dir>/lib/<name>", so that path resolves to "<bundle dir>/config/services.json" and the
// directory stays self-contained. (In a CommonJS build — the SEA — there is no import.meta at all,
// so the replacement is needed there anyway.)
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { buildDashboard } from "./build-dashboard.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT_NODE_MODULES = join(ROOT, "node_modules");

/** Packages that cannot be bundled (native addons) and are shipped in node_modules instead. */
export const NATIVE_EXTERNALS = ["lmdb"];
const EXTERNAL_PATTERNS = ["lmdb", "msgpackr-extract", "@lmdb/*", "@msgpackr-extract/*"];

/** Replaces `import.meta.url` in the project's own sources by a banner-defined identifier. */
function moduleUrlPlugin(identifier) {
  const srcDir = join(ROOT, "src") + sep;
  return {
    name: "virtufin-module-url",
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        if (!args.path.startsWith(srcDir)) return undefined;
        const text = readFileSync(args.path, "utf8");
        if (!text.includes("import.meta.url")) return undefined;
        return { contents: text.replaceAll("import.meta.url", identifier), loader: "ts" };
      });
    },
  };
}

/**
 * For CommonJS output run as a Node single executable application: the SEA's own `require` only
 * loads built-in modules, so imports of the native externals are turned into a call of a loader
 * defined in the banner (a createRequire rooted next to the executable).
 */
function seaExternalsPlugin(loaderIdentifier) {
  return {
    name: "virtufin-sea-externals",
    setup(b) {
      const filter = new RegExp(`^(${NATIVE_EXTERNALS.map((n) => n.replace(/[/.]/g, "\\$&")).join("|")})$`);
      b.onResolve({ filter }, (args) => ({ path: args.path, namespace: "sea-external" }));
      b.onLoad({ filter: /.*/, namespace: "sea-external" }, (args) => ({
        contents: `module.exports = ${loaderIdentifier}(${JSON.stringify(args.path)});`,
        loader: "js",
      }));
    },
  };
}

const ESM_BANNER = [
  'import { createRequire as __vfCreateRequire } from "node:module";',
  'import { fileURLToPath as __vfFileURLToPath } from "node:url";',
  'import { dirname as __vfDirname } from "node:path";',
  "const require = __vfCreateRequire(import.meta.url);",
  "const __filename = __vfFileURLToPath(import.meta.url);",
  "const __dirname = __vfDirname(__filename);",
].join("\n");

/** Shared esbuild options. */
export function commonOptions() {
  return {
    bundle: true,
    platform: "node",
    target: "node20",
    sourcemap: true,
    sourcesContent: false,
    legalComments: "none",
    logLevel: "warning",
    absWorkingDir: ROOT,
    tsconfig: join(ROOT, "tsconfig.json"),
  };
}

/** Builds the ESM bundle and the telemetry preload into outDir. */
export async function buildEsmBundle(outDir) {
  const moduleUrlId = "__virtufinModuleUrl";
  const result = await build({
    ...commonOptions(),
    entryPoints: {
      "virtufin-api": join(ROOT, "src/main.ts"),
      "telemetry-preload": join(ROOT, "src/observability/telemetry-preload.ts"),
    },
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    format: "esm",
    external: EXTERNAL_PATTERNS,
    banner: {
      js: `${ESM_BANNER}\nconst ${moduleUrlId} = new URL("./lib/virtufin-api.mjs", import.meta.url).href;`,
    },
    plugins: [moduleUrlPlugin(moduleUrlId)],
    metafile: true,
  });
  return result;
}

/** Builds the CommonJS bundle used as the SEA main script. */
export async function buildSeaMain(outFile) {
  const moduleUrlId = "__virtufinModuleUrl";
  const loaderId = "__virtufinRequireNative";
  const banner = [
    '"use strict";',
    'const __vfPath = require("node:path");',
    'const __vfUrl = require("node:url");',
    'const __vfModule = require("node:module");',
    "const __vfBaseDir = __vfPath.dirname(process.execPath);",
    // Native addons (lmdb) come from a node_modules directory next to the executable.
    `const ${loaderId} = __vfModule.createRequire(__vfPath.join(__vfBaseDir, "node_modules") + __vfPath.sep);`,
    `const ${moduleUrlId} = __vfUrl.pathToFileURL(__vfPath.join(__vfBaseDir, "lib", "virtufin-api.cjs")).href;`,
  ].join("\n");
  return build({
    ...commonOptions(),
    entryPoints: [join(ROOT, "src/main.ts")],
    outfile: outFile,
    format: "cjs",
    // The SEA's blob holds the script only; the map is written next to it for reference.
    sourcemap: "linked",
    banner: { js: banner },
    external: EXTERNAL_PATTERNS.filter((p) => !NATIVE_EXTERNALS.includes(p)),
    plugins: [moduleUrlPlugin(moduleUrlId), seaExternalsPlugin(loaderId)],
    metafile: true,
  });
}

/** Where package `name` resolves from `fromDir` (walking up through node_modules directories). */
function findPackageDir(name, fromDir) {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dir === ROOT || dirname(dir) === dir) return undefined;
    dir = dirname(dir);
    // skip ".../node_modules" and "@scope" levels: node looks in <dir>/node_modules only
    while (dir.endsWith(`${sep}node_modules`) || dir.split(sep).pop()?.startsWith("@")) dir = dirname(dir);
  }
}

/** The run-time dependency closure of `roots`, as package directories under the real node_modules. */
export function dependencyClosure(roots) {
  const found = new Map(); // package dir -> name@version
  const missingOptional = [];
  const queue = roots.map((name) => ({ name, from: ROOT, optional: false }));
  while (queue.length > 0) {
    const { name, from, optional } = queue.shift();
    const dir = findPackageDir(name, from);
    if (dir === undefined) {
      if (optional) {
        missingOptional.push(name);
        continue;
      }
      throw new Error(`cannot find package ${name} (needed from ${relative(ROOT, from) || "."})`);
    }
    if (found.has(dir)) continue;
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    found.set(dir, `${pkg.name}@${pkg.version}`);
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false });
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true });
  }
  return { dirs: found, missingOptional };
}

/** Copies the dependency closure of the native externals into <destDir>/node_modules. */
export function copyNativeModules(destDir) {
  const { dirs } = dependencyClosure(NATIVE_EXTERNALS);
  const destModules = join(destDir, "node_modules");
  rmSync(destModules, { recursive: true, force: true });
  for (const dir of dirs.keys()) {
    const rel = relative(ROOT_NODE_MODULES, dir);
    if (rel.startsWith("..")) throw new Error(`package outside node_modules: ${dir}`);
    cpSync(dir, join(destModules, rel), {
      recursive: true,
      dereference: true,
      // nested node_modules are walked (and copied) on their own
      filter: (src) => src === dir || !relative(dir, src).split(sep).includes("node_modules"),
    });
  }
  return [...dirs.values()].sort();
}

export function dirSize(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, name) => sum + dirSize(join(path, name)), 0);
}

export const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

export function copyConfig(destDir) {
  mkdirSync(join(destDir, "config"), { recursive: true });
  cpSync(join(ROOT, "config/services.json"), join(destDir, "config/services.json"));
}

async function main() {
  const outDir = resolve(ROOT, process.argv[2] ?? "dist/bundle");
  const t0 = performance.now();
  console.log(`[bundle] cleaning ${relative(ROOT, outDir)}/`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });

  console.log("[bundle] esbuild: src/main.ts, src/observability/telemetry-preload.ts -> ESM (node20), with source maps");
  const result = await buildEsmBundle(outDir);
  const externals = new Set();
  for (const out of Object.values(result.metafile.outputs))
    for (const imp of out.imports) if (imp.external && !imp.path.startsWith("node:")) externals.add(imp.path);
  console.log(`[bundle] external imports left in the bundle: ${[...externals].join(", ") || "(none)"}`);

  console.log("[bundle] copying config/services.json -> config/services.json");
  copyConfig(outDir);

  // The gateway serves it at /dashboard/ from <bundle dir>/dashboard (see src/app.ts).
  console.log("[bundle] dashboard -> dashboard/");
  await buildDashboard(join(outDir, "dashboard"), { quiet: true });

  console.log(`[bundle] node_modules for the native externals (${NATIVE_EXTERNALS.join(", ")}):`);
  for (const p of copyNativeModules(outDir)) console.log(`[bundle]   ${p}`);

  for (const name of ["virtufin-api.mjs", "virtufin-api.mjs.map", "telemetry-preload.mjs", "config", "dashboard", "node_modules"])
    console.log(`[bundle] ${name.padEnd(24)} ${mb(dirSize(join(outDir, name)))}`);
  console.log(`[bundle] total ${relative(ROOT, outDir)}/ ${mb(dirSize(outDir))}, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`[bundle] run: node --enable-source-maps ${relative(process.cwd(), join(outDir, "virtufin-api.mjs"))}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error("[bundle] failed:", err);
    process.exit(1);
  });
}
