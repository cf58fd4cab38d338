/**
 * curl itself, as a person would use it: Connect JSON unary calls and a server-streaming
 * Subscribe over HTTP/1.1, exactly as the README shows.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { eventually, startGateway, tempDir, type RunningGateway } from "../support/gateway.js";

const run = promisify(execFile);

async function curlJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const { stdout } = await run("curl", [
    "-sS", "--http1.1", "-X", "POST", "-H", "content-type: application/json",
    "-d", JSON.stringify(body), "-w", "\n%{http_code}", url,
  ]);
  const lines = stdout.trimEnd().split("\n");
  const status = Number(lines.pop());
  return { status, json: JSON.parse(lines.join("\n")) as Record<string, unknown> };
}

/** Splits Connect streaming envelopes (flag byte, 4-byte length, JSON) out of a body. */
function envelopes(body: Buffer): Array<{ flags: number; json: Record<string, unknown> }> {
  const out = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const len = body.readUInt32BE(at + 1);
    if (at + 5 + len > body.length) break;
    out.push({ flags: body[at]!, json: JSON.parse(body.subarray(at + 5, at + 5 + len).toString()) as Record<string, unknown> });
    at += 5 + len;
  }
  return out;
}

describe("curl", () => {
  let gw: RunningGateway;
  const dir = tempDir();
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
    dir.remove();
  });

  it("saves and reads state with Connect JSON unary calls", async () => {
    const save = await curlJson(`${gw.baseUrl}/virtufin.api.v1.State/SaveState`, { service: "state", key: "curl-key", value: '"quoted" ⏱️' });
    assert.equal(save.status, 200);
    assert.deepEqual(save.json, { status: { success: true, message: "OK" } });
    const get = await curlJson(`${gw.baseUrl}/virtufin.api.v1.State/GetState`, { service: "state", key: "curl-key" });
    assert.equal(get.status, 200);
    assert.equal(get.json["value"], '"quoted" ⏱️');
    assert.equal(get.json["found"], true);
  });

  it("gets a clear error with the right HTTP status", async () => {
    const res = await curlJson(`${gw.baseUrl}/virtufin.api.v1.State/GetState`, { service: "nope", key: "k" });
    assert.equal(res.status, 404);
    assert.equal(res.json["code"], "not_found");
    const bad = await curlJson(`${gw.baseUrl}/virtufin.api.v1.State/SaveState`, { service: "state", key: "a||b", value: "v" });
    assert.equal(bad.status, 400);
    assert.equal(bad.json["code"], "invalid_argument");
  });

  it("streams Subscribe events with curl over HTTP/1.1", async () => {
    const requestFile = join(dir.path, "subscribe.bin");
    const json = Buffer.from(JSON.stringify({ services: ["state"], eventTypes: ["state"] }));
    const envelope = Buffer.alloc(5);
    envelope.writeUInt32BE(json.length, 1);
    writeFileSync(requestFile, Buffer.concat([envelope, json]));
    // Headers go to a file (-D), which curl writes as soon as they arrive; the body streams to
    // stdout (-N). (/dev/stderr cannot be opened when stderr is a socket, as Node's pipes are.)
    const headerFile = join(dir.path, "headers.txt");
    const curl = spawn("curl", [
      "-sS", "-N", "-D", headerFile, "--http1.1", "-X", "POST",
      "-H", "content-type: application/connect+json",
      "--data-binary", `@${requestFile}`,
      `${gw.baseUrl}/virtufin.api.v1.Gateway/Subscribe`,
    ]);
    let head = "";
    let out = Buffer.alloc(0);
    let errors = "";
    curl.stderr.on("data", (d: Buffer) => (errors += d.toString()));
    curl.stdout.on("data", (d: Buffer) => (out = Buffer.concat([out, d])));
    try {
      // The headers arrive before any event: curl knows it is subscribed.
      await eventually(() => {
        head = existsSync(headerFile) ? readFileSync(headerFile, "utf8") : "";
        return head.includes("\r\n\r\n");
      }, "response headers").catch((e: unknown) => {
        throw new Error(`${String(e)}; curl said: ${JSON.stringify(errors)}`);
      });
      assert.match(head, /^HTTP\/1\.1 200/);
      assert.match(head, /content-type: application\/connect\+json/i);

      assert.equal(out.length, 0, `no event before one was published, got ${out.toString()}`);
      await curlJson(`${gw.baseUrl}/virtufin.api.v1.State/SaveState`, { service: "state", key: "streamed", value: "v1", includeValue: true });
      await eventually(() => envelopes(out).length >= 1, "the streamed event");
      const [first] = envelopes(out);
      assert.equal(first?.flags, 0);
      assert.equal(first?.json["service"], "state");
      assert.equal(first?.json["eventType"], "state");
      const data = JSON.parse(Buffer.from(String(first?.json["data"]), "base64").toString()) as unknown;
      assert.deepEqual(data, { service: "state", key: "streamed", action: "save", value: "v1" });
    } finally {
      curl.kill();
    }
  });
});
