/**
 * Log format: JSON lines when stdout is a pipe (collectors), human-readable lines when it is a
 * terminal (a person), either forced with --log-format. The terminal case runs the real gateway
 * under a real pseudo-terminal (util-linux `script`).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "../support/gateway.js";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const ANSI = /\x1b\[[0-9;]*m/g;

/** Runs the gateway until its "listening" line appears, then stops it with SIGTERM; returns everything it printed. */
async function outputUntilListening(command: string, args: readonly string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: undefined } });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 20_000;
  while (!/listening on/.test(output)) {
    if (child.exitCode !== null) throw new Error(`gateway exited early:\n${output}`);
    if (Date.now() > deadline) throw new Error(`no "listening" line within 20 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGTERM");
  await exited;
  return output;
}

function gatewayArgs(dataDir: string, ...extra: string[]): string[] {
  return ["--import", "tsx", MAIN, "--host", "127.0.0.1", "--http-port", "0", "--data-dir", dataDir, ...extra];
}

const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
const hasScript = spawnSync("script", ["--version"]).status === 0;

describe("log format", () => {
  it("writes one JSON object per line when stdout is not a terminal (auto)", async () => {
    const dir = tempDir();
    try {
      const out = await outputUntilListening(process.execPath, gatewayArgs(dir.path));
      const lines = out.split("\n").filter((l) => l.trim() !== "");
      assert.ok(lines.length >= 3, out);
      for (const line of lines) {
        const record = JSON.parse(line) as { level: number; msg: string; name: string };
        assert.equal(record.name, "virtufin-api");
      }
      assert.ok(lines.some((l) => (JSON.parse(l) as { msg: string }).msg.includes("listening on")));
    } finally {
      dir.remove();
    }
  });

  it("writes readable lines with --log-format pretty, even into a pipe", async () => {
    const dir = tempDir();
    try {
      const out = await outputUntilListening(process.execPath, gatewayArgs(dir.path, "--log-format", "pretty"));
      const listening = out.split("\n").find((l) => l.includes("listening on"));
      assert.ok(listening !== undefined, out);
      assert.match(listening, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(virtufin-api\): virtufin-api listening on 127\.0\.0\.1:\d+ /);
      assert.doesNotMatch(out, ANSI, "no colour codes when the output is not a terminal");
      assert.match(out, /WARN \(virtufin-api\): NO CREDENTIALS CONFIGURED/);
      assert.throws(() => JSON.parse(listening));
    } finally {
      dir.remove();
    }
  });

  it("switches to readable, coloured lines on a terminal (auto)", { skip: !hasScript && process.env["CI"] !== "true" ? "util-linux `script` is not installed: cannot make a pseudo-terminal" : false }, async () => {
    const dir = tempDir();
    try {
      const command = [process.execPath, ...gatewayArgs(dir.path)].map(shellQuote).join(" ");
      const out = await outputUntilListening("script", ["-qfec", command, "/dev/null"]);
      assert.match(out, ANSI, "coloured on a terminal");
      const plain = out.replace(ANSI, "").replaceAll("\r", "");
      assert.match(plain, /\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(virtufin-api\): virtufin-api listening on 127\.0\.0\.1:\d+/);
      assert.ok(!plain.split("\n").some((l) => l.startsWith("{")), "no JSON lines on a terminal");
    } finally {
      dir.remove();
    }
  });

  it("keeps JSON on a terminal when asked with --log-format json", { skip: !hasScript && process.env["CI"] !== "true" ? "util-linux `script` is not installed: cannot make a pseudo-terminal" : false }, async () => {
    const dir = tempDir();
    try {
      const command = [process.execPath, ...gatewayArgs(dir.path, "--log-format", "json")].map(shellQuote).join(" ");
      const out = (await outputUntilListening("script", ["-qfec", command, "/dev/null"])).replaceAll("\r", "");
      const listening = out.split("\n").find((l) => l.includes("listening on"));
      assert.ok(listening !== undefined, out);
      assert.equal((JSON.parse(listening) as { port: number }).port > 0, true);
    } finally {
      dir.remove();
    }
  });
});
