/**
 * The `virtufin` command line end to end: the real CLI as a subprocess against a real gateway,
 * for every command over gRPC, Connect and gRPC-Web, with the error paths a user meets (ETag
 * conflict, unknown service, permission denied, no token, gateway down, a deadline), a live
 * subscription, and a subscription that survives a gateway restart. Most runs start
 * src/cli/main.ts through tsx (no build needed); one builds the CLI and runs bin/virtufin.mjs.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { runId, startGateway, tempDir, type RunningGateway } from "../support/gateway.js";
import { spawnGateway, type GatewayProcess } from "../support/process.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI_SOURCE = join(ROOT, "src/cli/main.ts");

interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a CLI run: this process's, without any VIRTUFIN_API_* the developer has set. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("VIRTUFIN_API_")) delete env[name];
  return { ...env, ...extra };
}

/** A running CLI process whose output is collected and can be waited for. */
interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once `pattern` matches the collected text of `stream`. */
  waitFor(stream: "stdout" | "stderr", pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  readonly exited: Promise<number | null>;
}

function startCli(args: readonly string[], options: { env?: Record<string, string>; stdin?: string; launcher?: string } = {}): CliProcess {
  const entry = options.launcher === undefined ? ["--import", "tsx", CLI_SOURCE] : [options.launcher];
  // Spawned asynchronously: the gateway of most tests runs in this very process and must keep serving.
  const child = spawn(process.execPath, [...entry, ...args], { cwd: ROOT, env: cliEnv(options.env ?? {}), stdio: ["pipe", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  const listeners = new Set<() => void>();
  child.stdout?.on("data", (d: Buffer) => {
    out.stdout += d.toString();
    for (const l of listeners) l();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out.stderr += d.toString();
    for (const l of listeners) l();
  });
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  else child.stdin?.end();
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    waitFor(stream, pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out[stream]);
          if (m === null) return false;
          done();
          resolve(m);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} on ${stream} within ${timeoutMs} ms\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
        }, timeoutMs);
        const onExit = () =>
          setImmediate(() => {
            if (check()) return;
            done();
            reject(new Error(`the CLI exited before ${pattern} appeared on ${stream}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
          });
        const done = () => {
          clearTimeout(timer);
          listeners.delete(listener);
          child.off("close", onExit);
        };
        const listener = () => void check();
        listeners.add(listener);
        child.once("close", onExit);
        check();
      });
    },
  };
}

/** The exit status of a CLI process, failing the test if it does not exit within `ms`. */
async function exitWithin(p: CliProcess, ms = 20_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the CLI did not exit within ${ms} ms\nstdout: ${p.stdout()}\nstderr: ${p.stderr()}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function cli(args: readonly string[], options: { env?: Record<string, string>; stdin?: string; launcher?: string } = {}): Promise<CliResult> {
  const p = startCli(args, options);
  let status: number | null;
  try {
    status = await exitWithin(p, 60_000);
  } finally {
    p.child.kill("SIGKILL");
  }
  return { status, stdout: p.stdout(), stderr: p.stderr() };
}

/** Asserts a failed run: exit status 1 and exactly one stderr line `virtufin: <code>: ... (code N)`. */
function assertRpcError(r: CliResult, codeName: string, codeNumber: number, message?: RegExp): void {
  assert.equal(r.status, 1, `exit status\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0] ?? "", new RegExp(`^virtufin: ${codeName}: .+ \\(code ${codeNumber}\\)`));
  if (message !== undefined) assert.match(r.stderr, message);
  assert.equal(r.stdout, "");
}

function sha256(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A loopback port nothing listens on (taken from the OS, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("virtufin CLI against an open gateway", { timeout: 300_000 }, () => {
  let gw: RunningGateway;
  let address: string;
  before(async () => {
    gw = await startGateway();
    address = `127.0.0.1:${gw.port}`;
  });
  after(async () => {
    await gw.stop();
  });

  describe("usage", () => {
    it("prints help for everything, a group and a command, with exit status 0", async () => {
      const all = await cli(["--help"]);
      assert.equal(all.status, 0, all.stderr);
      for (const command of ["state get", "state set", "state list", "state delete", "state register", "publish", "subscribe", "scenario create", "scenario list", "health"]) {
        assert.ok(all.stdout.includes(`virtufin ${command}`), `--help lists ${command}`);
      }
      assert.match(all.stdout, /VIRTUFIN_API_HOST/);
      const group = await cli(["scenario", "--help"]);
      assert.equal(group.status, 0);
      assert.match(group.stdout, /virtufin scenario pause <id>/);
      assert.doesNotMatch(group.stdout, /virtufin state get/);
    });

    it("rejects bad command lines with one line and exit status 2, without calling anyone", async () => {
      const cases: Array<[string[], RegExp]> = [
        [[], /no command given/],
        [["stat"], /unknown command "stat"/],
        [["state"], /"state" needs a subcommand: get, set, list, delete, register/],
        [["state", "fetch", "x"], /unknown subcommand "fetch" of state/],
        [["state", "get", "workmanager"], /"state get" takes <service> <key>, got "workmanager"/],
        [["state", "get", "workmanager", "k", "--etag", "1"], /option --etag does not apply to "state get"/],
        [["publish", "s", "t", "d", "--type", "a", "--type", "b"], /option --type may be given once to "publish"/],
        [["health", "--protocol", "http3"], /--protocol must be one of grpc, connect, grpc-web, got "http3"/],
        [["health", "--timeout-ms", "soon"], /--timeout-ms must be a whole number/],
        [["health", "--address", "localhost:99999"], /--address: port "99999"/],
        [["health", "--bogus"], /Unknown option '--bogus'/],
        [["publish", "workmanager", "workmanager.x", "d", "--meta", "novalue"], /--meta "novalue" is not key=value/],
      ];
      for (const [args, message] of cases) {
        const r = await cli(["--address", "127.0.0.1:1", ...args]);
        assert.equal(r.status, 2, `${args.join(" ")}: exit status\n${r.stderr}`);
        assert.equal(r.stderr.trimEnd().split("\n").length, 1, `${args.join(" ")}: one line\n${r.stderr}`);
        assert.match(r.stderr, /^virtufin: .* \(see virtufin --help\)\n$/);
        assert.match(r.stderr, message, args.join(" "));
      }
    });
  });

  for (const protocol of ["grpc", "connect", "grpc-web"] as const) {
    it(`state set, get, list, delete over ${protocol}`, async () => {
      const key = `cli-${protocol}-${runId()}`;
      const base = ["--address", address, "--protocol", protocol];
      const set = await cli([...base, "state", "set", "workmanager", key, '{"state":"idle"}']);
      assert.equal(set.status, 0, set.stderr);
      assert.equal(set.stdout, `saved workmanager/${key}\n`);

      const get = await cli([...base, "state", "get", "workmanager", key]);
      assert.equal(get.status, 0, get.stderr);
      assert.equal(get.stdout, '{"state":"idle"}\n');
      const etag = /^etag: (\d+)\n$/.exec(get.stderr)?.[1];
      assert.ok(etag !== undefined, `etag on stderr: ${get.stderr}`);

      const json = await cli([...base, "--json", "state", "get", "workmanager", key]);
      assert.deepEqual(JSON.parse(json.stdout), { key, value: '{"state":"idle"}', etag, found: true });

      const list = await cli([...base, "state", "list", "workmanager"]);
      assert.equal(list.status, 0, list.stderr);
      assert.match(list.stdout, /^KEY\s+ETAG\s+VALUE\n/);
      assert.match(list.stdout, new RegExp(`\\n${key}\\s+${etag}\\s+\\{"state":"idle"\\}\\n`));
      const listJson = JSON.parse((await cli([...base, "--json", "state", "list", "workmanager"])).stdout) as {
        values: Record<string, string>;
        etags: Record<string, string>;
      };
      assert.equal(listJson.values[key], '{"state":"idle"}');
      assert.equal(listJson.etags[key], etag);

      const del = await cli([...base, "state", "delete", "workmanager", key, "--etag", etag]);
      assert.equal(del.status, 0, del.stderr);
      assert.equal(del.stdout, `deleted workmanager/${key}\n`);
      const gone = await cli([...base, "state", "get", "workmanager", key]);
      assert.equal(gone.status, 3, "a key without a value is exit status 3");
      assert.equal(gone.stdout, "");
      assert.equal(gone.stderr, `virtufin: workmanager/${key} has no value\n`);
      const goneJson = await cli([...base, "--json", "state", "get", "workmanager", key]);
      assert.equal(goneJson.status, 3);
      assert.deepEqual(JSON.parse(goneJson.stdout), { key, value: "", etag: "", found: false });
    });
  }

  it("reads a value from stdin byte for byte with -", async () => {
    const key = `cli-stdin-${runId()}`;
    const value = 'line one ⏱️\n{"two":2}\n';
    const set = await cli(["--address", address, "state", "set", "workmanager", key, "-"], { stdin: value });
    assert.equal(set.status, 0, set.stderr);
    const get = await cli(["--address", address, "--json", "state", "get", "workmanager", key]);
    assert.equal((JSON.parse(get.stdout) as { value: string }).value, value);
  });

  it("fails an ETag conflict with aborted, code 10, and changes nothing", async () => {
    const key = `cli-etag-${runId()}`;
    await cli(["--address", address, "state", "set", "workmanager", key, "first"]);
    const etag = /etag: (\d+)/.exec((await cli(["--address", address, "state", "get", "workmanager", key])).stderr)?.[1];
    assert.ok(etag);
    const stale = String(Number(etag) + 1000);
    const conflict = await cli(["--address", address, "state", "set", "workmanager", key, "second", "--etag", stale]);
    assertRpcError(conflict, "aborted", 10, /etag mismatch/);
    const del = await cli(["--address", address, "--protocol", "connect", "state", "delete", "workmanager", key, "--etag", stale]);
    assertRpcError(del, "aborted", 10);
    assert.equal((await cli(["--address", address, "state", "get", "workmanager", key])).stdout, "first\n");
    // With the current ETag the write goes through.
    const ok = await cli(["--address", address, "state", "set", "workmanager", key, "second", "--etag", etag]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((await cli(["--address", address, "state", "get", "workmanager", key])).stdout, "second\n");
  });

  it("reports an unknown service as not_found, code 5, over every protocol", async () => {
    for (const protocol of ["grpc", "connect", "grpc-web"]) {
      const r = await cli(["--address", address, "--protocol", protocol, "state", "get", "no-such-service", "k"]);
      assertRpcError(r, "not_found", 5, /unknown service "no-such-service"/);
    }
    assertRpcError(await cli(["--address", address, "publish", "no-such-service", "no-such-service.x", "d"]), "not_found", 5);
  });

  it("registers keys and rejects a malformed one with invalid_argument", async () => {
    const r = await cli(["--address", address, "state", "register", "workmanager", `reg-${runId()}`, `reg-${runId()}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "registered 2 keys of workmanager\n");
    const json = await cli(["--address", address, "--json", "state", "register", "workmanager", `reg-${runId()}`]);
    assert.deepEqual(JSON.parse(json.stdout), { status: { success: true, message: "OK" } });
    assertRpcError(await cli(["--address", address, "state", "register", "workmanager", "../escape"]), "invalid_argument", 3);
  });

  it("publishes with CloudEvents attributes and a subscriber prints the event (human and JSON lines)", async () => {
    const topic = `workmanager.cli-${runId()}`;
    const human = startCli(["--address", address, "subscribe", "--service", "workmanager", "--topic", topic]);
    const json = startCli(["--address", address, "--protocol", "connect", "--json", "subscribe", "--topic", topic, "--type", "pubsub", "--max-events", "1"]);
    try {
      await human.waitFor("stderr", /subscribed at http:\/\/127\.0\.0\.1:\d+ \(grpc\)/);
      await json.waitFor("stderr", /subscribed at .* \(connect\)/);
      const published = await cli([
        "--address", address, "publish", "workmanager", topic, '{"worker_id":"w1"}',
        "--type", "com.virtufin.workmanager.worker.started", "--meta", "x-shift=night",
      ]);
      assert.equal(published.status, 0, published.stderr);
      const messageId = published.stdout.trim();
      assert.match(messageId, /^[0-9a-f-]{36}$/);

      const line = (await human.waitFor("stdout", new RegExp(`^.*${messageId}.*$`, "m")))[0];
      const fields = line.split("  ");
      assert.match(fields[0] ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.deepEqual(fields.slice(1), ["workmanager", topic, "pubsub", messageId, '{"worker_id":"w1"}']);

      // --max-events 1: the JSON subscriber exits 0 by itself after the event.
      assert.equal(await exitWithin(json), 0, json.stderr());
      const event = JSON.parse(json.stdout().trim()) as { messageId: string; topic: string; eventType: string; data: string; metadata: Record<string, string> };
      assert.equal(event.messageId, messageId);
      assert.equal(event.topic, topic);
      assert.equal(event.eventType, "pubsub");
      assert.equal(Buffer.from(event.data, "base64").toString(), '{"worker_id":"w1"}');
      assert.equal(event.metadata["ce-type"], "com.virtufin.workmanager.worker.started");
      assert.equal(event.metadata["x-shift"], "night");

      // Ctrl-C ends a subscription cleanly.
      human.child.kill("SIGINT");
      assert.equal(await exitWithin(human), 0, human.stderr());
    } finally {
      human.child.kill("SIGKILL");
      json.child.kill("SIGKILL");
    }
  });

  it("publishes stdin bytes with --id and --source, and prints a state event", async () => {
    const key = `cli-evt-${runId()}`;
    const sub = startCli(["--address", address, "--json", "subscribe", "--service", "workmanager", "--type", "state", "--max-events", "1"]);
    try {
      await sub.waitFor("stderr", /subscribed at/);
      assert.equal((await cli(["--address", address, "state", "set", "workmanager", key, "v1", "--include-value"])).status, 0);
      assert.equal(await exitWithin(sub), 0, sub.stderr());
      const event = JSON.parse(sub.stdout()) as { data: string; eventType: string };
      assert.equal(event.eventType, "state");
      assert.deepEqual(JSON.parse(Buffer.from(event.data, "base64").toString()), { service: "workmanager", key, action: "save", value: "v1" });
    } finally {
      sub.child.kill("SIGKILL");
    }
    const id = `evt-${runId()}`;
    const r = await cli(["--address", address, "publish", "workmanager", "workmanager.cli", "-", "--id", id, "--source", "urn:com.virtufin.workmanager"], {
      stdin: "\u0000\u0001binary",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${id}\n`);
    const denied = await cli(["--address", address, "publish", "workmanager", "workmanager.cli", "x", "--source", "urn:com.virtufin.websocketmanager"]);
    assertRpcError(denied, "permission_denied", 7);
  });

  it("ends a subscription whose filter is refused at once, without retrying", async () => {
    const r = await cli(["--address", address, "subscribe", "--type", "bogus"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^virtufin: invalid_argument: unknown event type "bogus".* \(code 3\)$/m);
    assert.doesNotMatch(r.stderr, /reconnecting/);
    const unknown = await cli(["--address", address, "--protocol", "grpc-web", "subscribe", "--service", "nope"]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /^virtufin: not_found: .*"nope".* \(code 5\)$/m);
  });

  it("manages a scenario through its whole life, and names illegal moves", async () => {
    const id = `cli-${runId()}`;
    const base = ["--address", address];
    const created = await cli([...base, "scenario", "create", id, "--description", "a CLI run"]);
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, new RegExp(`^ID\\s+STATUS\\s+CREATED\\s+UPDATED\\s+DESCRIPTION\\n${id}\\s+active\\s+\\S+\\s+\\S+\\s+a CLI run\\n$`));

    const got = await cli([...base, "--json", "scenario", "get", id]);
    assert.equal(got.status, 0, got.stderr);
    const scenario = JSON.parse(got.stdout) as { scenarioId: string; status: string; description: string };
    assert.deepEqual([scenario.scenarioId, scenario.status, scenario.description], [id, "SCENARIO_STATUS_ACTIVE", "a CLI run"]);

    const list = await cli([...base, "scenario", "list"]);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`\\n${id}\\s+active`));
    const page = await cli([...base, "--json", "scenario", "list", "--page-size", "1"]);
    assert.equal((JSON.parse(page.stdout) as { scenarios: unknown[] }).scenarios.length, 1);

    assertRpcError(await cli([...base, "scenario", "delete", id]), "failed_precondition", 9, /it is active/);
    assert.match((await cli([...base, "scenario", "pause", id])).stdout, new RegExp(`${id}\\s+paused`));
    assertRpcError(await cli([...base, "scenario", "pause", id]), "failed_precondition", 9, /paused/);
    assert.match((await cli([...base, "--protocol", "connect", "scenario", "resume", id])).stdout, new RegExp(`${id}\\s+active`));
    assert.match((await cli([...base, "scenario", "archive", id])).stdout, new RegExp(`${id}\\s+archived`));
    const deleted = await cli([...base, "scenario", "delete", id]);
    assert.equal(deleted.status, 0, deleted.stderr);
    assert.equal(deleted.stdout, `deleted scenario ${id}\n`);
    assertRpcError(await cli([...base, "scenario", "get", id]), "not_found", 5);
  });

  it("checks health, finds the gateway through VIRTUFIN_API_HOST and VIRTUFIN_API_GRPC_PORT", async () => {
    const r = await cli(["health"], { env: { VIRTUFIN_API_HOST: "127.0.0.1", VIRTUFIN_API_GRPC_PORT: String(gw.port) } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "SERVING\n");
    const json = await cli(["--address", `http://${address}`, "--protocol", "connect", "--json", "health", "--service", "virtufin.api.v1.State"]);
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { status: "SERVING" });
    assertRpcError(await cli(["--address", address, "health", "--service", "nope"]), "not_found", 5);
    // --address wins over the environment.
    const wins = await cli(["--address", address, "health"], { env: { VIRTUFIN_API_HOST: "127.0.0.1", VIRTUFIN_API_GRPC_PORT: "1" } });
    assert.equal(wins.status, 0, wins.stderr);
  });
});

describe("virtufin CLI when the gateway cannot answer", { timeout: 60_000 }, () => {
  it("says unavailable, code 14, and names the address when nothing listens", async () => {
    const port = await closedPort();
    for (const protocol of ["grpc", "connect", "grpc-web"]) {
      const r = await cli(["--address", `127.0.0.1:${port}`, "--protocol", protocol, "state", "get", "workmanager", "k"]);
      assertRpcError(r, "unavailable", 14, new RegExp(`ECONNREFUSED.*\\[gateway http://127\\.0\\.0\\.1:${port} over ${protocol}\\]`));
    }
    const env = await cli(["health"], { env: { VIRTUFIN_API_HOST: "127.0.0.1", VIRTUFIN_API_GRPC_PORT: String(port) } });
    assertRpcError(env, "unavailable", 14);
    const sub = await cli(["--address", `127.0.0.1:${port}`, "subscribe", "--no-reconnect"]);
    assertRpcError(sub, "unavailable", 14);
  });

  it("gives up at the deadline with deadline_exceeded, code 4", async () => {
    // A real TCP server that accepts connections and never answers.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    try {
      const r = await cli(["--address", `127.0.0.1:${port}`, "--timeout-ms", "300", "state", "list", "workmanager"]);
      assertRpcError(r, "deadline_exceeded", 4);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe("virtufin CLI with access control", { timeout: 120_000 }, () => {
  const TOKEN_WM = "cli-token-for-workmanager-012345";
  const TOKEN_ADMIN = "cli-token-for-the-operator-98765";
  const dir = tempDir();
  let gw: RunningGateway;
  let address: string;
  before(async () => {
    const policyFile = join(dir.path, "policy.json");
    writeFileSync(
      policyFile,
      JSON.stringify({
        auth: {
          tokens: [
            { service: "workmanager", sha256: sha256(TOKEN_WM) },
            { service: "workmanager", sha256: sha256(TOKEN_ADMIN), admin: true },
          ],
        },
        permissions: { services: { workmanager: { subscribe: { allow: [">"], deny: ["websocketmanager.private"] } } } },
      }),
    );
    gw = await startGateway({ policyFile });
    address = `127.0.0.1:${gw.port}`;
  });
  after(async () => {
    await gw.stop();
    dir.remove();
  });

  it("is unauthenticated, code 16, without a token or with a wrong one", async () => {
    assertRpcError(await cli(["--address", address, "state", "get", "workmanager", "k"]), "unauthenticated", 16);
    assertRpcError(await cli(["--address", address, "--token", "not-a-token", "--protocol", "connect", "state", "list", "workmanager"]), "unauthenticated", 16);
    assertRpcError(await cli(["--address", address, "subscribe"]), "unauthenticated", 16);
  });

  it("acts as the token's service (from --token or VIRTUFIN_API_TOKEN) and is denied another's", async () => {
    const key = `acl-${runId()}`;
    const own = await cli(["--address", address, "--token", TOKEN_WM, "state", "set", "workmanager", key, "mine"]);
    assert.equal(own.status, 0, own.stderr);
    const fromEnv = await cli(["--address", address, "state", "get", "workmanager", key], { env: { VIRTUFIN_API_TOKEN: TOKEN_WM } });
    assert.equal(fromEnv.status, 0, fromEnv.stderr);
    assert.equal(fromEnv.stdout, "mine\n");

    const other = await cli(["--address", address, "--token", TOKEN_WM, "state", "set", "websocketmanager", key, "theirs"]);
    assertRpcError(other, "permission_denied", 7);
    const publish = await cli(["--address", address, "publish", "websocketmanager", "websocketmanager.status", "x"], { env: { VIRTUFIN_API_TOKEN: TOKEN_WM } });
    assertRpcError(publish, "permission_denied", 7);
    // A subscription to a denied topic fails at once and is not retried.
    const sub = await cli(["--address", address, "--token", TOKEN_WM, "subscribe", "--topic", "websocketmanager.private"]);
    assertRpcError(sub, "permission_denied", 7);
  });

  it("lets only the admin token manage scenarios", async () => {
    const id = `acl-${runId()}`;
    assertRpcError(await cli(["--address", address, "--token", TOKEN_WM, "scenario", "create", id]), "permission_denied", 7);
    const admin = await cli(["--address", address, "--token", TOKEN_ADMIN, "scenario", "create", id]);
    assert.equal(admin.status, 0, admin.stderr);
    // Reading needs no admin role; health needs no token at all.
    assert.equal((await cli(["--address", address, "--token", TOKEN_WM, "scenario", "get", id])).status, 0);
    assert.equal((await cli(["--address", address, "health"])).stdout, "SERVING\n");
  });
});

describe("virtufin subscribe across a gateway restart", { timeout: 120_000 }, () => {
  it("reconnects with backoff, says so on stderr, and prints events published after the restart", async () => {
    const dir = tempDir();
    let gateway: GatewayProcess | undefined = await spawnGateway(["--data-dir", dir.path]);
    const port = gateway.port;
    const topic = `workmanager.restart-${runId()}`;
    const sub = startCli(["--address", `127.0.0.1:${port}`, "subscribe", "--service", "workmanager", "--topic", topic]);
    try {
      await sub.waitFor("stderr", /subscribed at/);
      assert.equal(await gateway.stop("SIGTERM"), 0);
      gateway = undefined;
      await sub.waitFor("stderr", /reconnecting in \d+\.\ds \(unavailable: .+\)/);
      assert.equal(sub.child.exitCode, null, "the subscriber keeps running while the gateway is down");

      gateway = await spawnGateway(["--data-dir", dir.path, "--http-port", String(port)]);
      assert.equal(gateway.port, port);
      await sub.waitFor("stderr", /reconnected at http:\/\/127\.0\.0\.1:\d+ \(grpc\)/, 40_000);
      const published = await cli(["--address", `127.0.0.1:${port}`, "publish", "workmanager", topic, "after the restart"]);
      assert.equal(published.status, 0, published.stderr);
      const messageId = published.stdout.trim();
      await sub.waitFor("stdout", new RegExp(`${messageId}  after the restart$`, "m"));

      sub.child.kill("SIGINT");
      assert.equal(await exitWithin(sub), 0, sub.stderr());
    } finally {
      sub.child.kill("SIGKILL");
      await gateway?.stop();
      dir.remove();
    }
  });
});

describe("bin/virtufin.mjs", { timeout: 120_000 }, () => {
  // Built into a temporary tree (dist/ of the checkout is left alone): the launcher, a package.json
  // that makes .js files ESM, node_modules, and the CLI compiled from this tsconfig.build.json.
  const tree = tempDir("virtufin-cli-build-");
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
    tree.remove();
  });

  it("tells the user to build when dist/ is missing", async () => {
    mkdirSync(join(tree.path, "bare/bin"), { recursive: true });
    copyFileSync(join(ROOT, "bin/virtufin.mjs"), join(tree.path, "bare/bin/virtufin.mjs"));
    const r = await cli(["health"], { launcher: join(tree.path, "bare/bin/virtufin.mjs") });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^virtufin: .*dist\/src\/cli\/main\.js is missing: run `npm run build`.*\n$/);
  });

  it("runs the compiled CLI", async () => {
    const app = join(tree.path, "app");
    mkdirSync(join(app, "bin"), { recursive: true });
    copyFileSync(join(ROOT, "bin/virtufin.mjs"), join(app, "bin/virtufin.mjs"));
    writeFileSync(join(app, "package.json"), JSON.stringify({ type: "module" }));
    symlinkSync(join(ROOT, "node_modules"), join(app, "node_modules"), "dir");
    // Only the CLI and gen/ (all the CLI imports), so others' work in progress elsewhere cannot break it.
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        extends: join(ROOT, "tsconfig.build.json"),
        compilerOptions: { rootDir: ROOT, outDir: join(app, "dist") },
        include: [join(ROOT, "src/cli"), join(ROOT, "gen")],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(app, "tsconfig.json")], { encoding: "utf8" });
    assert.equal(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);

    const launcher = join(app, "bin/virtufin.mjs");
    const health = await cli(["--address", `127.0.0.1:${gw.port}`, "health"], { launcher });
    assert.equal(health.status, 0, health.stderr);
    assert.equal(health.stdout, "SERVING\n");
    const set = await cli(["--address", `127.0.0.1:${gw.port}`, "--protocol", "connect", "state", "set", "workmanager", "from-bin", "built"], { launcher });
    assert.equal(set.status, 0, set.stderr);
    const get = await cli(["--address", `127.0.0.1:${gw.port}`, "state", "get", "workmanager", "from-bin"], { launcher });
    assert.equal(get.stdout, "built\n");
    assertRpcError(await cli(["--address", `127.0.0.1:${gw.port}`, "state", "get", "nope", "k"], { launcher }), "not_found", 5);
    const usage = await cli(["nope"], { launcher });
    assert.equal(usage.status, 2);
  });
});
