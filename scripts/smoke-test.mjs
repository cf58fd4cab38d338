#!/usr/bin/env node
// Smoke test of a packaged gateway: starts the given command, talks Connect JSON to it, stops it.
//
//   node scripts/smoke-test.mjs node --enable-source-maps dist/bundle/virtufin-api.mjs
//   node scripts/smoke-test.mjs dist/sea/virtufin-api
//   node scripts/smoke-test.mjs node dist/src/main.js
//
// Appends `--http-port 0 --host 127.0.0.1 --data-dir <tmp>` to the command, waits for the JSON log
// line with "port" and "listening", then: SaveState, GetState (value and etag), a streamed state
// event through Gateway/Subscribe (Connect streaming, enveloped JSON), and SIGTERM (exit code 0).
// Prints the start-up time (spawn to listening) and the idle RSS (VmRSS of /proc/<pid>/status).
// Exits non-zero with a message on any failure. Prints "SMOKE OK" as its last line on success.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const command = process.argv.slice(2);
if (command.length === 0) {
  console.error("usage: node scripts/smoke-test.mjs <command> [args...]");
  process.exit(2);
}
const START_TIMEOUT_MS = Number(process.env.SMOKE_START_TIMEOUT_MS ?? 20_000);
const STEP_TIMEOUT_MS = 10_000;

const dataDir = mkdtempSync(join(tmpdir(), "virtufin-smoke-"));
const args = [...command.slice(1), "--http-port", "0", "--host", "127.0.0.1", "--data-dir", dataDir];
let output = "";
let child;

function log(msg) {
  console.log(`[smoke] ${msg}`);
}

function fail(msg) {
  console.error(`[smoke] FAIL: ${msg}`);
  if (output) console.error(`[smoke] --- output of the gateway ---\n${output.trimEnd()}\n[smoke] ---`);
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(1);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

function rssKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

async function connectJson(base, method, body) {
  const res = await withTimeout(
    fetch(`${base}/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    STEP_TIMEOUT_MS,
    method,
  );
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status}: ${text}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${method}: not JSON: ${text}`);
  }
}

function envelope(json) {
  const payload = Buffer.from(JSON.stringify(json));
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Reads one enveloped message (flag byte, uint32 BE length, payload) from a web stream reader. */
async function readEnvelope(reader) {
  let buf = Buffer.alloc(0);
  for (;;) {
    if (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (buf.length >= 5 + len) return { flags: buf[0], payload: buf.subarray(5, 5 + len).toString("utf8") };
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended after ${buf.length} bytes, before a whole envelope`);
    buf = Buffer.concat([buf, Buffer.from(value)]);
  }
}

async function main() {
  log(`starting: ${[command[0], ...args].join(" ")}`);
  const t0 = performance.now();
  child = spawn(command[0], args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d) => (output += d.toString()));
  child.stderr.on("data", (d) => (output += d.toString()));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.once("error", (err) => fail(`cannot start ${command[0]}: ${err.message}`));

  const port = await withTimeout(
    new Promise((resolve, reject) => {
      const onData = () => {
        for (const line of output.split("\n")) {
          if (!line.includes('"port"') || !line.includes("listening")) continue;
          try {
            const entry = JSON.parse(line);
            if (typeof entry.port === "number") {
              child.stdout.off("data", onData);
              resolve(entry.port);
              return;
            }
          } catch {
            /* not a whole JSON line yet */
          }
        }
      };
      child.stdout.on("data", onData);
      void exited.then(({ code, signal }) => reject(new Error(`gateway exited (code ${code}, signal ${signal}) before listening`)));
    }),
    START_TIMEOUT_MS,
    "start-up",
  );
  const startupMs = performance.now() - t0;
  log(`listening on 127.0.0.1:${port} after ${startupMs.toFixed(0)} ms (spawn to listening)`);
  const base = `http://127.0.0.1:${port}`;

  // Idle RSS: give the process a moment to settle after start-up, before any request.
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = rssKb(child.pid);
  log(`idle RSS ${(idleRss / 1024).toFixed(1)} MB (VmRSS of pid ${child.pid})`);

  // SaveState + GetState
  const value = JSON.stringify({ state: "idle", smoke: Date.now() });
  const saved = await connectJson(base, "virtufin.api.v1.State/SaveState", { service: "workmanager", key: "smoke-1", value });
  if (saved?.status?.success !== true) throw new Error(`SaveState did not succeed: ${JSON.stringify(saved)}`);
  const got = await connectJson(base, "virtufin.api.v1.State/GetState", { service: "workmanager", key: "smoke-1" });
  if (got.found !== true || got.value !== value) throw new Error(`GetState returned ${JSON.stringify(got)}, expected value ${value}`);
  if (typeof got.etag !== "string" || got.etag === "") throw new Error(`GetState returned no etag: ${JSON.stringify(got)}`);
  log(`SaveState + GetState ok (etag ${got.etag})`);

  // A streamed state event through Gateway/Subscribe (Connect streaming over HTTP/1.1).
  const abort = new AbortController();
  const res = await withTimeout(
    fetch(`${base}/virtufin.api.v1.Gateway/Subscribe`, {
      method: "POST",
      headers: { "content-type": "application/connect+json" },
      body: envelope({ services: ["workmanager"], eventTypes: ["state"] }),
      signal: abort.signal,
    }),
    STEP_TIMEOUT_MS,
    "Gateway/Subscribe",
  );
  if (res.status !== 200) throw new Error(`Gateway/Subscribe: HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const value2 = JSON.stringify({ state: "busy" });
  await connectJson(base, "virtufin.api.v1.State/SaveState", { service: "workmanager", key: "smoke-2", value: value2 });
  const env = await withTimeout(readEnvelope(reader), STEP_TIMEOUT_MS, "Gateway/Subscribe event");
  if (env.flags !== 0) throw new Error(`Gateway/Subscribe: expected a message envelope, got flags ${env.flags}: ${env.payload}`);
  const event = JSON.parse(env.payload);
  const data = Buffer.from(event.data ?? "", "base64").toString("utf8");
  if (event.eventType !== "state" || event.service !== "workmanager" || !data.includes("smoke-2"))
    throw new Error(`Gateway/Subscribe: unexpected event ${env.payload} (data ${data})`);
  log(`Gateway/Subscribe ok: ${event.eventType} event on ${event.topic} (${data.length} bytes of data)`);
  abort.abort();
  await reader.cancel().catch(() => {});

  // The dashboard ships with the build and is served on the same port.
  const page = await withTimeout(fetch(`${base}/dashboard/`), STEP_TIMEOUT_MS, "GET /dashboard/");
  const html = await page.text();
  if (page.status !== 200 || !(page.headers.get("content-type") ?? "").startsWith("text/html") || !html.includes("<script"))
    throw new Error(`GET /dashboard/: HTTP ${page.status} ${page.headers.get("content-type")}: ${html.slice(0, 200)}`);
  log(`GET /dashboard/ ok (${html.length} bytes of HTML)`);

  // Stop
  child.kill("SIGTERM");
  const { code, signal } = await withTimeout(exited, STEP_TIMEOUT_MS, "SIGTERM");
  if (code !== 0) throw new Error(`after SIGTERM the gateway exited with code ${code} (signal ${signal}), expected 0`);
  log("SIGTERM: exit code 0");

  rmSync(dataDir, { recursive: true, force: true });
  console.log(`[smoke] RESULT ${JSON.stringify({ command: command.join(" "), startupMs: Math.round(startupMs), idleRssKb: idleRss })}`);
  console.log("SMOKE OK");
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
