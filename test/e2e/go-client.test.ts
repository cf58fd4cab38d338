/**
 * Interoperability with a gRPC client in another language: grpc-go (test/interop/go-client), which
 * loads the API's descriptors at run time from a `buf build` image, talks to the real gateway over
 * HTTP/2 cleartext. The Go program only executes commands and reports what it saw (codes, headers,
 * messages); every assertion is here. Covers unary calls and their errors, a server stream carrying
 * an event the Go client published itself, stream cancellation, bearer-token metadata, the
 * grpc-timeout deadline, and the message size limit.
 *
 * Without a Go toolchain the tests skip with a printed reason; with CI=true they fail instead.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { hashToken } from "../../src/auth/identity.js";
import { eventually, runId, startGateway, tempDir, type RunningGateway } from "../support/gateway.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const GO_CLIENT_DIR = join(ROOT, "test/interop/go-client");
const MAX_MESSAGE = 64 * 1024;
const TOKEN_WORKMANAGER = "go-client-token-workmanager-0123456789";

// ---------------------------------------------------------------------------------------------
// The Go toolchain and the skip rule
// ---------------------------------------------------------------------------------------------

/** `GO` if set, else `go` on PATH, else /usr/local/go/bin/go (as tools/daprd/build.sh looks). */
function findGo(): string | undefined {
  const candidates = process.env["GO"] ? [process.env["GO"]] : ["go", "/usr/local/go/bin/go"];
  return candidates.find((go) => spawnSync(go, ["version"], { stdio: "ignore" }).status === 0);
}

function goGate(): { go: string | undefined; skip: string | false } {
  const go = findGo();
  if (go !== undefined) return { go, skip: false };
  const reason = "no Go toolchain (set GO, or put go on PATH) for the grpc-go interoperability test";
  if (process.env["CI"] === "true") throw new Error(`${reason} (CI=true: it must run on CI, not skip)`);
  console.log(`# skipping the Go client tests: ${reason}`);
  return { go: undefined, skip: reason };
}

function run(command: string, args: string[], cwd: string, what: string): void {
  const res = spawnSync(command, args, { cwd, encoding: "utf8" });
  if (res.status !== 0) throw new Error(`${what} failed (${res.status ?? res.signal}):\n${res.stdout}${res.stderr}${res.error ?? ""}`);
}

/** Builds the Go client and the descriptor image it loads into `dir`; returns their paths. */
function buildGoClient(go: string, dir: string): { binary: string; image: string } {
  const binary = join(dir, "virtufin-go-client");
  const image = join(dir, "image.binpb");
  console.log(`# building the Go gRPC client: ${go} build in test/interop/go-client (fast when Go's caches are warm)`);
  // -mod=readonly: go.mod/go.sum must already be complete (pinned to daprd's versions); the build
  // never edits them, and a missing entry fails here instead of reaching for the network.
  run(go, ["build", "-mod=readonly", "-buildvcs=false", "-o", binary, "."], GO_CLIENT_DIR, "go build");
  run("npx", ["buf", "build", "-o", image], ROOT, "buf build");
  return { binary, image };
}

// ---------------------------------------------------------------------------------------------
// Driving the Go client: one JSON command per line in, one JSON result per line out
// ---------------------------------------------------------------------------------------------

interface GoResult {
  op: string;
  /** The gRPC status code (same numbers as Connect's Code); -1 when the client itself refused. */
  code: number;
  status: string;
  message?: string;
  response?: Record<string, unknown>;
  messages?: Array<Record<string, unknown>>;
  ended?: boolean;
  headers?: Record<string, string[]>;
  trailers?: Record<string, string[]>;
}

interface CallOptions {
  metadata?: Record<string, string>;
  timeoutMs?: number;
  localGraceMs?: number;
}

class GoClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<{ resolve(r: GoResult): void; reject(e: Error): void }> = [];
  private stderr = "";
  private readonly exited: Promise<void>;

  constructor(binary: string, image: string, port: number) {
    this.child = spawn(binary, ["-descriptors", image, "-target", `127.0.0.1:${port}`], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout }).on("line", (line) => this.waiting.shift()?.resolve(JSON.parse(line) as GoResult));
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code) => {
        for (const w of this.waiting.splice(0)) w.reject(new Error(`the Go client exited (${code}) mid-command:\n${this.stderr}`));
        resolve();
      }),
    );
  }

  private send(command: Record<string, unknown>): Promise<GoResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from the Go client to ${JSON.stringify(command).slice(0, 200)}`)), 30_000);
      this.waiting.push({
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.stdin.write(`${JSON.stringify(command)}\n`);
    });
  }

  unary(method: string, request: object, options: CallOptions = {}): Promise<GoResult> {
    return this.send({ op: "unary", method, request, ...options });
  }

  /** Opens a server stream; answers when the response headers arrived (or the stream ended). */
  open(stream: string, method: string, request: object, options: CallOptions = {}): Promise<GoResult> {
    return this.send({ op: "open", stream, method, request, ...options });
  }

  recv(stream: string, count: number, waitMs = 10_000): Promise<GoResult> {
    return this.send({ op: "recv", stream, count, waitMs });
  }

  cancel(stream: string): Promise<GoResult> {
    return this.send({ op: "cancel", stream });
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    await this.exited;
  }
}

const STATE = "virtufin.api.v1.State";
const PUBSUB = "virtufin.api.v1.Pubsub";
const SUBSCRIBE = "virtufin.api.v1.Gateway/Subscribe";
const HEALTH_CHECK = "grpc.health.v1.Health/Check";

const base64 = (text: string) => Buffer.from(text).toString("base64");
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** gRPC's OK, which Connect's Code enum leaves out. */
const OK = 0;

/** Asserts the call ended with `code`, showing the whole result when it did not. */
function assertCode(res: GoResult, code: Code | typeof OK, what: string): void {
  assert.equal(res.code, code, `${what}: expected ${code === OK ? "OK" : Code[code]}, got ${JSON.stringify(res).slice(0, 2000)}`);
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

const gate = goGate();

describe("a grpc-go client (descriptors at run time) against the gateway over h2c", { skip: gate.skip }, () => {
  const dir = tempDir("virtufin-go-client-");
  let built: { binary: string; image: string };
  let gw: RunningGateway;
  let client: GoClient;
  const activeSubscribers = () => gw.app.deps.subscribers.stats.active;

  before(async () => {
    built = buildGoClient(gate.go!, dir.path);
    gw = await startGateway({ maxMessageBytes: MAX_MESSAGE });
    client = new GoClient(built.binary, built.image, gw.port);
  });
  after(async () => {
    await client?.close();
    await gw?.stop();
    dir.remove();
  });

  it("saves and reads state with ETags; a stale ETag is ABORTED and changes nothing; GetAllState lists it", async () => {
    const key = `go-${runId()}`;
    const first = await client.unary(`${STATE}/SaveState`, { service: "workmanager", key, value: '{"n":1}' });
    assertCode(first, OK, "first save");
    assert.deepEqual(first.response, { status: { success: true, message: "OK" } });

    const read1 = await client.unary(`${STATE}/GetState`, { service: "workmanager", key });
    assert.equal(read1.response?.["value"], '{"n":1}');
    assert.equal(read1.response?.["found"], true);
    const etag1 = read1.response?.["etag"];
    assert.ok(typeof etag1 === "string" && etag1 !== "", `an ETag: ${JSON.stringify(read1)}`);

    assertCode(await client.unary(`${STATE}/SaveState`, { service: "workmanager", key, value: '{"n":2}', etag: etag1 }), OK, "save with the current ETag");
    const read2 = await client.unary(`${STATE}/GetState`, { service: "workmanager", key });
    const etag2 = read2.response?.["etag"];
    assert.notEqual(etag2, etag1);

    const stale = await client.unary(`${STATE}/SaveState`, { service: "workmanager", key, value: '{"n":3}', etag: etag1 });
    assertCode(stale, Code.Aborted, "save with a stale ETag");
    assert.equal(stale.status, "Aborted", "grpc-go names the code it decoded from grpc-status");
    const read3 = await client.unary(`${STATE}/GetState`, { service: "workmanager", key });
    assert.deepEqual(read3.response, { key, value: '{"n":2}', etag: etag2, found: true });

    const all = await client.unary(`${STATE}/GetAllState`, { service: "workmanager" });
    assertCode(all, OK, "GetAllState");
    assert.equal((all.response?.["values"] as Record<string, string>)[key], '{"n":2}');
    assert.equal((all.response?.["etags"] as Record<string, string>)[key], etag2);
    assert.match(all.headers?.["content-type"]?.[0] ?? "", /^application\/grpc/);
  });

  it("publishes an event; a bad topic and a malformed ETag are INVALID_ARGUMENT with a message", async () => {
    const published = await client.unary(`${PUBSUB}/PublishEvent`, { service: "workmanager", topic: "workmanager.go-client", data: base64('{"from":"go"}') });
    assertCode(published, OK, "publish");
    assert.match(String(published.response?.["messageId"]), /^[0-9a-f-]{36}$/);

    const badTopic = await client.unary(`${PUBSUB}/PublishEvent`, { service: "workmanager", topic: "Bad Topic!" });
    assertCode(badTopic, Code.InvalidArgument, "publish on a bad topic");
    assert.match(badTopic.message ?? "", /topic/i);

    const badEtag = await client.unary(`${STATE}/SaveState`, { service: "workmanager", key: "k", value: "v", etag: "not-a-number" });
    assertCode(badEtag, Code.InvalidArgument, "save with a malformed ETag");
  });

  it("answers grpc.health.v1 Check with SERVING, and an unknown service with NOT_FOUND", async () => {
    const health = await client.unary(HEALTH_CHECK, { service: "" });
    assert.deepEqual(health.response, { status: "SERVING" });
    assertCode(await client.unary(`${STATE}/GetState`, { service: "no-such-service", key: "k" }), Code.NotFound, "unknown service");
  });

  it("streams to a Subscribe the event the Go client published itself; cancelling frees the subscriber", async () => {
    const topic = `workmanager.go-${runId()}`;
    const before = activeSubscribers();
    const opened = await client.open("events", SUBSCRIBE, { services: ["workmanager"], topics: [topic], eventTypes: ["pubsub"] });
    assertCode(opened, OK, "open Subscribe");
    assert.match(opened.headers?.["content-type"]?.[0] ?? "", /^application\/grpc/, "response headers arrive before any event");
    assert.equal(activeSubscribers(), before + 1, "the headers mean the subscription is registered");

    const published = await client.unary(`${PUBSUB}/PublishEvent`, {
      service: "workmanager",
      topic,
      data: base64('{"hello":"from go"}'),
      metadata: { "ce-type": "com.virtufin.workmanager.go.hello" },
    });
    assertCode(published, OK, "publish");

    const received = await client.recv("events", 1);
    assert.equal(received.ended, false, `the stream stays open: ${JSON.stringify(received)}`);
    const event = received.messages?.[0];
    assert.ok(event, `an event within the wait: ${JSON.stringify(received)}`);
    assert.equal(event["topic"], topic);
    assert.equal(event["service"], "workmanager");
    assert.equal(event["messageId"], published.response?.["messageId"]);
    assert.equal(Buffer.from(String(event["data"]), "base64").toString(), '{"hello":"from go"}');
    assert.equal((event["metadata"] as Record<string, string>)["ce-type"], "com.virtufin.workmanager.go.hello");

    const cancelled = await client.cancel("events");
    assert.equal(cancelled.ended, true);
    assertCode(cancelled, Code.Canceled, "a cancelled stream");
    // The Go process and its connection live on: only the stream was reset.
    await eventually(() => activeSubscribers() === before, "the gateway to drop the cancelled subscriber");
    assertCode(await client.unary(HEALTH_CHECK, {}), OK, "the same connection after the cancel");
  });

  it("honours grpc-timeout: a Subscribe with a short deadline is ended by the gateway with DEADLINE_EXCEEDED", async () => {
    const before = activeSubscribers();
    // The client sends a 300 ms deadline but waits 20 s more itself (then it would say CANCELED),
    // so the DEADLINE_EXCEEDED seen here comes from the gateway.
    const opened = await client.open("short", SUBSCRIBE, { services: ["workmanager"] }, { timeoutMs: 300, localGraceMs: 20_000 });
    assertCode(opened, OK, "open Subscribe with a deadline");
    const end = await client.recv("short", 1, 15_000);
    assert.equal(end.ended, true, `the stream ended within the wait: ${JSON.stringify(end)}`);
    assertCode(end, Code.DeadlineExceeded, "a Subscribe past its deadline");
    assert.doesNotMatch(end.message ?? "", /context deadline exceeded/, "not the client's own timer");
    await eventually(() => activeSubscribers() === before, "the gateway to drop the expired subscriber");

    const tooLong = await client.unary(`${STATE}/GetState`, { service: "workmanager", key: "k" }, { timeoutMs: 10 * 60_000 });
    assertCode(tooLong, Code.InvalidArgument, "a deadline over --max-timeout-ms");
  });

  it("refuses a request over --max-message-bytes with RESOURCE_EXHAUSTED; one under it passes", async () => {
    const key = `go-big-${runId()}`;
    const under = await client.unary(`${STATE}/SaveState`, { service: "workmanager", key, value: "x".repeat(MAX_MESSAGE / 2) });
    assertCode(under, OK, "a message under the limit");
    const over = await client.unary(`${STATE}/SaveState`, { service: "workmanager", key, value: "y".repeat(MAX_MESSAGE + 1024) });
    assertCode(over, Code.ResourceExhausted, "a message over the limit");
    const read = await client.unary(`${STATE}/GetState`, { service: "workmanager", key });
    assert.equal(String(read.response?.["value"]).length, MAX_MESSAGE / 2, "the refused write changed nothing");
  });

  describe("with a policy file: the bearer token travels as metadata", () => {
    let secured: RunningGateway;
    let goClient: GoClient;

    before(async () => {
      const policyFile = join(dir.path, "policy.json");
      writeFileSync(
        policyFile,
        JSON.stringify({ auth: { tokens: [{ service: "workmanager", sha256: hashToken(TOKEN_WORKMANAGER) }] } }),
      );
      secured = await startGateway({ policyFile });
      goClient = new GoClient(built.binary, built.image, secured.port);
    });
    after(async () => {
      await goClient?.close();
      await secured?.stop();
    });

    it("is UNAUTHENTICATED without a token or with a wrong one, and works with the right one", async () => {
      assertCode(await goClient.unary(`${STATE}/GetState`, { service: "workmanager", key: "k" }), Code.Unauthenticated, "no token");
      const wrong = await goClient.unary(`${STATE}/GetState`, { service: "workmanager", key: "k" }, { metadata: bearer("not-a-configured-token") });
      assertCode(wrong, Code.Unauthenticated, "a wrong token");
      const key = `go-auth-${runId()}`;
      const saved = await goClient.unary(`${STATE}/SaveState`, { service: "workmanager", key, value: "mine" }, { metadata: bearer(TOKEN_WORKMANAGER) });
      assertCode(saved, OK, "save as workmanager");
      const read = await goClient.unary(`${STATE}/GetState`, { service: "workmanager", key }, { metadata: bearer(TOKEN_WORKMANAGER) });
      assert.equal(read.response?.["value"], "mine");
    });

    it("is PERMISSION_DENIED when acting as another service", async () => {
      const asOther = await goClient.unary(`${STATE}/SaveState`, { service: "websocketmanager", key: "theirs", value: "v" }, { metadata: bearer(TOKEN_WORKMANAGER) });
      assertCode(asOther, Code.PermissionDenied, "write another service's state");
      const publish = await goClient.unary(`${PUBSUB}/PublishEvent`, { service: "websocketmanager", topic: "websocketmanager.status" }, { metadata: bearer(TOKEN_WORKMANAGER) });
      assertCode(publish, Code.PermissionDenied, "publish as another service");
    });

    it("refuses a Subscribe without a token, and exempts health checks", async () => {
      const opened = await goClient.open("anonymous", SUBSCRIBE, {});
      const end = opened.ended === true ? opened : await goClient.recv("anonymous", 1);
      assertCode(end, Code.Unauthenticated, "an anonymous Subscribe");
      const health = await goClient.unary(HEALTH_CHECK, { service: "" });
      assert.deepEqual(health.response, { status: "SERVING" });
    });
  });
});
