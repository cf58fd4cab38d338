/**
 * A gateway that cannot start says why and exits non-zero; it must not keep listening with
 * nothing behind the port (it once did, after the store failed to open).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { freePorts } from "../support/daprd.js";
import { tempDir } from "../support/gateway.js";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

describe("failed start", () => {
  it("a data dir that is a file: one error line, exit status 1, the port released", async () => {
    const dir = tempDir();
    const notAFolder = join(dir.path, "data");
    writeFileSync(notAFolder, "this is a file, not a folder");
    const [port] = (await freePorts(1)) as [number];
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--host", "127.0.0.1", "--http-port", String(port), "--data-dir", notAFolder], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    try {
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      assert.equal(code, 1, `exit status (SIGKILL after 30 s means it hung); stderr:\n${stderr}`);
      assert.match(stderr, /virtufin-api: failed to start/);
      assert.equal(await portOpen(port), false, "nothing listens on the port any more");
    } finally {
      clearTimeout(timer);
      dir.remove();
    }
  });
});
