/**
 * The virtufin command line, parsed without running anything: commands, options that apply to
 * them, positional counts, the address from flags and environment, and the help text.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveBaseUrl } from "../../src/cli/address.js";
import { COMMANDS, DEFAULT_TIMEOUT_MS, parseCommandLine, usage } from "../../src/cli/args.js";
import { UsageError } from "../../src/cli/errors.js";

function run(argv: string[], env = {}) {
  const parsed = parseCommandLine(argv, env);
  assert.equal(parsed.kind, "run");
  return parsed;
}

function usageError(argv: string[], message: RegExp, env = {}): void {
  assert.throws(
    () => parseCommandLine(argv, env),
    (e) => e instanceof UsageError && message.test(e.message),
    argv.join(" "),
  );
}

describe("parseCommandLine", () => {
  it("reads a command with its arguments and the defaults of every global option", () => {
    const p = run(["state", "set", "workmanager", "worker-1", "-", "--etag", "7", "--include-value"]);
    assert.equal(p.command, "state set");
    assert.deepEqual(p.args, ["workmanager", "worker-1", "-"]);
    assert.equal(p.options.etag, "7");
    assert.equal(p.options.includeValue, true);
    assert.deepEqual(p.global, { baseUrl: "http://localhost:5002", protocol: "grpc", token: undefined, timeoutMs: DEFAULT_TIMEOUT_MS, json: false });
  });

  it("takes global options anywhere on the line", () => {
    const p = run(["--json", "publish", "--protocol", "connect", "wm", "wm.t", "d", "--token", "T", "--timeout-ms", "250", "--address", "h:1"]);
    assert.deepEqual(p.global, { baseUrl: "http://h:1", protocol: "connect", token: "T", timeoutMs: 250, json: true });
  });

  it("repeats the filter options of subscribe, and --meta of publish", () => {
    const s = run(["subscribe", "--service", "a", "--service", "b", "--topic", "t", "--type", "state", "--type", "pubsub", "--max-events", "3", "--no-reconnect"]);
    assert.deepEqual([s.options.service, s.options.topic, s.options.type], [["a", "b"], ["t"], ["state", "pubsub"]]);
    assert.equal(s.options.maxEvents, 3);
    assert.equal(s.options.noReconnect, true);
    const p = run(["publish", "s", "t", "d", "--meta", "x-a=1", "--meta", "x-b=2"]);
    assert.deepEqual(p.options.meta, ["x-a=1", "x-b=2"]);
  });

  it("takes one or more keys for state register", () => {
    assert.deepEqual(run(["state", "register", "wm", "a", "b", "c"]).args, ["wm", "a", "b", "c"]);
    usageError(["state", "register", "wm"], /"state register" takes <service> <key>\.\.\., got "wm"/);
  });

  it("names every mistake", () => {
    usageError([], /no command given/);
    usageError(["nope"], /unknown command "nope"/);
    usageError(["scenario"], /"scenario" needs a subcommand: create, get, list, pause, resume, archive, delete/);
    usageError(["scenario", "start", "x"], /unknown subcommand "start" of scenario/);
    usageError(["state", "list"], /"state list" takes <service>, got none/);
    usageError(["health", "extra"], /"health" takes no arguments, got "extra"/);
    usageError(["state", "get", "s", "k", "--include-value"], /option --include-value does not apply to "state get"/);
    usageError(["health", "--service", "a", "--service", "b"], /option --service may be given once to "health"/);
    usageError(["health", "--protocol", "h3"], /--protocol must be one of grpc, connect, grpc-web/);
    usageError(["health", "--timeout-ms", "0"], /--timeout-ms must be a whole number of at least 1, got "0"/);
    usageError(["subscribe", "--max-events", "-1"], /--max-events/);
    usageError(["health", "--token", ""], /--token is empty/);
    usageError(["health", "--nope"], /^Unknown option '--nope'$/);
  });

  it("answers --help for everything, a group, or a command", () => {
    assert.deepEqual(parseCommandLine(["--help"], {}), { kind: "help", text: usage() });
    assert.deepEqual(parseCommandLine(["help"], {}), { kind: "help", text: usage() });
    assert.deepEqual(parseCommandLine(["state", "-h"], {}), { kind: "help", text: usage("state") });
    assert.deepEqual(parseCommandLine(["state", "get", "--help"], {}), { kind: "help", text: usage("state") });
    assert.deepEqual(parseCommandLine(["publish", "--help"], {}), { kind: "help", text: usage("publish") });
    for (const c of COMMANDS) assert.ok(usage().includes(`virtufin ${c.name}`), c.name);
    assert.ok(!usage("scenario").includes("virtufin state"));
  });

  it("takes the token from VIRTUFIN_API_TOKEN unless --token is given", () => {
    assert.equal(run(["health"], { VIRTUFIN_API_TOKEN: "from-env" }).global.token, "from-env");
    assert.equal(run(["health", "--token", "flag"], { VIRTUFIN_API_TOKEN: "from-env" }).global.token, "flag");
    assert.equal(run(["health"], { VIRTUFIN_API_TOKEN: "" }).global.token, undefined);
  });
});

describe("resolveBaseUrl", () => {
  const cases: Array<[string | undefined, Record<string, string>, string]> = [
    [undefined, {}, "http://localhost:5002"],
    [undefined, { VIRTUFIN_API_HOST: "gw.internal" }, "http://gw.internal:5002"],
    [undefined, { VIRTUFIN_API_HOST: "gw.internal", VIRTUFIN_API_GRPC_PORT: "7000" }, "http://gw.internal:7000"],
    [undefined, { VIRTUFIN_API_GRPC_PORT: "7000" }, "http://localhost:7000"],
    [undefined, { VIRTUFIN_API_HOST: "https://gw.example" }, "https://gw.example:5002"],
    [undefined, { VIRTUFIN_API_HOST: "  " }, "http://localhost:5002"],
    ["127.0.0.1:6000", { VIRTUFIN_API_HOST: "ignored", VIRTUFIN_API_GRPC_PORT: "1" }, "http://127.0.0.1:6000"],
    ["gateway", {}, "http://gateway:5002"],
    ["http://gateway:80", {}, "http://gateway"],
    ["https://gateway.example", {}, "https://gateway.example"],
    ["http://gateway:6000/", {}, "http://gateway:6000"],
    ["http://gateway:6000/prefix/", {}, "http://gateway:6000/prefix"],
    ["[::1]:6000", {}, "http://[::1]:6000"],
    ["[::1]", {}, "http://[::1]:5002"],
  ];
  for (const [address, env, expected] of cases) {
    it(`${address ?? "(no --address)"} ${JSON.stringify(env)} -> ${expected}`, () => {
      assert.equal(resolveBaseUrl(address, env), expected);
    });
  }

  it("rejects what is not an address", () => {
    const bad: Array<[string | undefined, Record<string, string>, RegExp]> = [
      ["host:0", {}, /--address: port "0" is not a number from 1 to 65535/],
      ["host:70000", {}, /port "70000"/],
      ["host:", {}, /port ""/],
      ["host:http", {}, /is not host:port or an http\(s\) URL/],
      ["ftp://host:21", {}, /must be http:\/\/ or https:\/\//],
      ["http://user:pw@host:1", {}, /only a scheme, host and port/],
      ["", {}, /empty address/],
      [undefined, { VIRTUFIN_API_GRPC_PORT: "five" }, /VIRTUFIN_API_GRPC_PORT: port "five"/],
    ];
    for (const [address, env, message] of bad) {
      assert.throws(() => resolveBaseUrl(address, env), (e) => e instanceof UsageError && message.test(e.message), String(address));
    }
  });
});
