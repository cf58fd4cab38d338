import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, defaultConfig, helpText, loadConfig } from "../../src/config/config.js";
import { settings } from "../../src/config/schema.js";

const dir = mkdtempSync(join(tmpdir(), "virtufin-config-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function configFile(content: unknown): string {
  const path = join(dir, `config-${++fileCount}.json`);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

/** Asserts loadConfig throws a ConfigError whose message matches every pattern. */
function assertConfigError(input: Parameters<typeof loadConfig>[0], ...patterns: RegExp[]): void {
  assert.throws(
    () => loadConfig(input),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
      assert.equal(e.name, "ConfigError");
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

describe("defaults", () => {
  it("loadConfig with no input gives the documented defaults", () => {
    const c = loadConfig();
    assert.equal(c.httpPort, 5002);
    assert.equal(c.host, "0.0.0.0");
    assert.equal(c.backend, "embedded");
    assert.equal(c.logLevel, "info");
    assert.equal(c.daprGrpcPort, 50001);
    assert.equal(c.daprHttpPort, 3500);
    assert.equal(c.pubsubName, "pubsub");
    assert.equal(c.stateStoreName, "statestore");
    assert.deepEqual(c.corsOrigins, []);
    assert.equal(c.maxKeyBytes, 256);
    assert.equal(c.subscriberBufferSize, 1000);
  });

  it("defaultConfig equals loadConfig of nothing", () => {
    assert.deepEqual({ ...loadConfig({ argv: [], env: {} }) }, { ...defaultConfig() });
  });

  it("returns a frozen config", () => {
    const c = loadConfig();
    assert.ok(Object.isFrozen(c));
    assert.throws(() => {
      (c as unknown as Record<string, unknown>)["httpPort"] = 1;
    }, TypeError);
  });

  it("every setting has a unique flag and key, and its default passes its own validation", () => {
    assert.equal(new Set(settings.map((s) => s.flag)).size, settings.length);
    assert.equal(new Set(settings.map((s) => s.key)).size, settings.length);
    for (const s of settings) {
      if (s.type === "int") {
        assert.equal(typeof s.default, "number", s.key);
        if (s.min !== undefined) assert.ok((s.default as number) >= s.min, s.key);
        if (s.max !== undefined) assert.ok((s.default as number) <= s.max, s.key);
      }
      if (s.type === "enum") assert.ok(s.values?.includes(s.default as string), s.key);
    }
  });

  it("helpText names every flag and its environment variables", () => {
    const help = helpText();
    for (const s of settings) {
      assert.ok(help.includes(`--${s.flag}`), s.flag);
      for (const e of s.env) assert.ok(help.includes(e), e);
    }
  });
});

describe("precedence: CLI > env > config file > default", () => {
  const file = configFile({ httpPort: 6001, host: "10.0.0.1", logLevel: "warn" });

  const cases: ReadonlyArray<readonly [string, Parameters<typeof loadConfig>[0], number]> = [
    ["default", {}, 5002],
    ["file via --config", { argv: ["--config", file] }, 6001],
    ["file via VIRTUFIN_CONFIG", { env: { VIRTUFIN_CONFIG: file } }, 6001],
    ["env HttpPort over file", { argv: ["--config", file], env: { HttpPort: "7001" } }, 7001],
    ["env VIRTUFIN_HTTP_PORT over file", { argv: ["--config", file], env: { VIRTUFIN_HTTP_PORT: "7002" } }, 7002],
    ["HttpPort over VIRTUFIN_HTTP_PORT", { env: { HttpPort: "7001", VIRTUFIN_HTTP_PORT: "7002" } }, 7001],
    ["CLI over env and file", { argv: ["--config", file, "--http-port", "8001"], env: { HttpPort: "7001" } }, 8001],
    ["CLI with = syntax", { argv: ["--http-port=8002"] }, 8002],
    ["empty env value is ignored", { argv: ["--config", file], env: { HttpPort: "" } }, 6001],
    ["port 0 picks a free port", { argv: ["--http-port", "0"] }, 0],
  ];
  for (const [name, input, port] of cases) {
    it(`${name} -> httpPort ${port}`, () => {
      assert.equal(loadConfig(input).httpPort, port);
    });
  }

  it("applies precedence per setting, not per source", () => {
    const c = loadConfig({
      argv: ["--config", file, "--log-level", "debug"],
      env: { VIRTUFIN_HOST: "127.0.0.1" },
    });
    assert.equal(c.httpPort, 6001); // file
    assert.equal(c.host, "127.0.0.1"); // env over file
    assert.equal(c.logLevel, "debug"); // CLI over file
    assert.equal(c.backend, "embedded"); // default
  });

  it("--config wins over VIRTUFIN_CONFIG", () => {
    const other = configFile({ httpPort: 6002 });
    assert.equal(loadConfig({ argv: ["--config", file], env: { VIRTUFIN_CONFIG: other } }).httpPort, 6001);
    assert.equal(loadConfig({ env: { VIRTUFIN_CONFIG: other } }).httpPort, 6002);
  });

  it("validates only the value that wins", () => {
    assert.equal(loadConfig({ argv: ["--http-port", "8001"], env: { HttpPort: "abc" } }).httpPort, 8001);
  });

  it("reads the other aliased variables", () => {
    const c = loadConfig({ env: { pubsubName: "nats", stateStoreName: "redis", DAPR_GRPC_PORT: "50002", VIRTUFIN_BACKEND: "dapr" } });
    assert.equal(c.pubsubName, "nats");
    assert.equal(c.stateStoreName, "redis");
    assert.equal(c.daprGrpcPort, 50002);
    assert.equal(c.backend, "dapr");
  });
});

describe("lists", () => {
  const cases: ReadonlyArray<readonly [string, Parameters<typeof loadConfig>[0], string[]]> = [
    ["env a,b", { env: { VIRTUFIN_CORS_ORIGINS: "a,b" } }, ["a", "b"]],
    ["env with spaces and empty items", { env: { VIRTUFIN_CORS_ORIGINS: " https://a.example , ,https://b.example," } }, ["https://a.example", "https://b.example"]],
    ["env star", { env: { VIRTUFIN_CORS_ORIGINS: "*" } }, ["*"]],
    ["CLI", { argv: ["--cors-origins", "https://x.example"] }, ["https://x.example"]],
    ["CLI empty string", { argv: ["--cors-origins", ""] }, []],
    ["file array", { argv: ["--config", configFile({ corsOrigins: ["https://f.example", "https://g.example"] })] }, ["https://f.example", "https://g.example"]],
    ["file string", { argv: ["--config", configFile({ corsOrigins: "a,b" })] }, ["a", "b"]],
  ];
  for (const [name, input, expected] of cases) {
    it(`parses ${name}`, () => {
      const c = loadConfig(input);
      assert.deepEqual([...c.corsOrigins], expected);
      assert.ok(Object.isFrozen(c.corsOrigins));
    });
  }
});

describe("errors name the setting and its source", () => {
  it('--http-port "abc"', () => {
    assertConfigError({ argv: ["--http-port", "abc"] }, /--http-port/, /httpPort/, /whole number/, /"abc"/);
  });
  it("--http-port 70000", () => {
    assertConfigError({ argv: ["--http-port", "70000"] }, /--http-port/, /at most 65535/, /70000/);
  });
  it("--http-port -1", () => {
    assertConfigError({ argv: ["--http-port=-1"] }, /--http-port/, /at least 0/);
  });
  it("--http-port 80.5", () => {
    assertConfigError({ argv: ["--http-port", "80.5"] }, /--http-port/, /whole number/);
  });
  it("--http-port with an empty value", () => {
    assertConfigError({ argv: ["--http-port", ""] }, /--http-port/, /whole number/);
  });
  it("HttpPort env abc", () => {
    assertConfigError({ env: { HttpPort: "abc" } }, /environment variable HttpPort/, /httpPort/);
  });
  it("VIRTUFIN_HTTP_PORT env 1e3", () => {
    assertConfigError({ env: { VIRTUFIN_HTTP_PORT: "1e3" } }, /environment variable VIRTUFIN_HTTP_PORT/, /whole number/);
  });
  it("unknown backend", () => {
    assertConfigError({ argv: ["--backend", "redis"] }, /--backend/, /backend/, /embedded, dapr/, /"redis"/);
  });
  it("unknown backend from env", () => {
    assertConfigError({ env: { VIRTUFIN_BACKEND: "Dapr" } }, /environment variable VIRTUFIN_BACKEND/, /"Dapr"/);
  });
  it("unknown log level", () => {
    assertConfigError({ argv: ["--log-level", "verbose"] }, /--log-level/, /logLevel/, /"verbose"/);
  });
  it("maxMetadataEntries below its minimum", () => {
    assertConfigError({ argv: ["--max-metadata-entries", "7"] }, /--max-metadata-entries/, /at least 8/);
  });
  it("a bad value in the config file names the key and the file", () => {
    const path = configFile({ httpPort: 70000 });
    assertConfigError({ argv: ["--config", path] }, new RegExp(`"httpPort" in ${escape(path)}`), /at most 65535/);
  });
  it("a fractional number in the config file", () => {
    assertConfigError({ argv: ["--config", configFile({ httpPort: 80.5 })] }, /"httpPort" in/, /whole number/);
  });
  it("a number where the config file needs text", () => {
    assertConfigError({ argv: ["--config", configFile({ host: 42 })] }, /"host" in/, /expected text/);
  });
  it("an object where the config file needs a list", () => {
    assertConfigError({ argv: ["--config", configFile({ corsOrigins: { a: 1 } })] }, /"corsOrigins" in/, /comma-separated list/);
  });
  it("a list of non-strings in the config file", () => {
    assertConfigError({ argv: ["--config", configFile({ corsOrigins: [1, 2] })] }, /"corsOrigins" in/);
  });
  it("null in the config file", () => {
    assertConfigError({ argv: ["--config", configFile({ httpPort: null })] }, /"httpPort" in/);
  });
  it("unknown key in the config file", () => {
    const path = configFile({ httpPort: 5002, http_port: 1 });
    assertConfigError({ argv: ["--config", path] }, new RegExp(escape(path)), /unknown setting "http_port"/);
  });
  it("invalid JSON config file", () => {
    const path = configFile("{ httpPort: 5002 ");
    assertConfigError({ argv: ["--config", path] }, new RegExp(escape(path)), /not valid JSON/);
  });
  it("a config file holding an array", () => {
    assertConfigError({ argv: ["--config", configFile([1, 2])] }, /must hold a JSON object/);
  });
  it("a config file that does not exist", () => {
    const path = join(dir, "missing.json");
    assertConfigError({ env: { VIRTUFIN_CONFIG: path } }, new RegExp(escape(path)));
  });
  it("an unknown CLI flag", () => {
    assertConfigError({ argv: ["--htp-port", "1"] }, /command line/, /htp-port/);
  });
  it("a positional CLI argument", () => {
    assertConfigError({ argv: ["serve"] }, /command line/);
  });
  it("a CLI flag without its value", () => {
    assertConfigError({ argv: ["--http-port"] }, /command line/, /http-port/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
