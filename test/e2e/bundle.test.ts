/**
 * Packaging: the esbuild bundle and the single executable application (SEA) are built with the
 * scripts, into temporary directories (so the outputs are shown to be self-contained and movable,
 * and dist/ is left alone), and each passes scripts/smoke-test.mjs (state, a streamed event, a
 * clean SIGTERM). The SEA part is skipped, with the reason, when postject is not installed.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SMOKE = join(ROOT, "scripts/smoke-test.mjs");
const work = mkdtempSync(join(tmpdir(), "virtufin-pack-"));
after(() => rmSync(work, { recursive: true, force: true }));

function run(args: readonly string[], timeoutMs: number, cwd = ROOT): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, args, { cwd, encoding: "utf8", timeout: timeoutMs, env: { ...process.env } });
  return { status: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? `\n${String(r.error)}` : ""}` };
}

function smoke(command: readonly string[], cwd: string): string {
  const r = run([SMOKE, ...command], 30_000, cwd);
  assert.equal(r.status, 0, `smoke test failed:\n${r.output}`);
  assert.match(r.output, /SMOKE OK\s*$/);
  assert.match(r.output, /SaveState \+ GetState ok/);
  assert.match(r.output, /Gateway\/Subscribe ok: state event/);
  assert.match(r.output, /SIGTERM: exit code 0/);
  return r.output;
}

function postjectMissing(): string | false {
  try {
    createRequire(join(ROOT, "package.json")).resolve("postject");
    return false;
  } catch {
    return "postject is not installed (npm i -D postject@1.0.0-alpha.6)";
  }
}

describe("packaging", { timeout: 90_000 }, () => {
  it("bundles into one ESM file that runs from anywhere with its minimal node_modules", () => {
    const out = join(work, "bundle");
    const b = run(["scripts/build-bundle.mjs", out], 30_000);
    assert.equal(b.status, 0, `build-bundle failed:\n${b.output}`);
    for (const f of ["virtufin-api.mjs", "virtufin-api.mjs.map", "telemetry-preload.mjs", "config/services.json", "node_modules/lmdb/package.json"])
      assert.ok(existsSync(join(out, f)), `missing ${f} in the bundle directory`);
    // Only the native addon's closure is shipped, not the app's dependencies.
    assert.ok(!existsSync(join(out, "node_modules/@connectrpc")), "pure-JS dependencies must be bundled, not shipped");
    smoke(["node", "--enable-source-maps", join(out, "virtufin-api.mjs")], work);
    smoke(["node", "--enable-source-maps", "--import", join(out, "telemetry-preload.mjs"), join(out, "virtufin-api.mjs")], work);
  });

  const missing = postjectMissing();
  it("builds a single executable application that runs with node_modules next to it", { skip: missing }, () => {
    const out = join(work, "sea");
    const b = run(["scripts/build-sea.mjs", out], 45_000);
    assert.equal(b.status, 0, `build-sea failed:\n${b.output}`);
    const exe = join(out, "virtufin-api");
    assert.ok(statSync(exe).mode & 0o100, "the executable is not executable");
    smoke([exe], work);
  });
});
