import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { settings, type RawConfigShape, type Setting } from "./schema.js";

export type Backend = "embedded" | "dapr";
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

export interface Config extends Readonly<Omit<RawConfigShape, "backend" | "logLevel">> {
  readonly backend: Backend;
  readonly logLevel: LogLevel;
}

/** A setting that failed validation; the message names the setting and where it came from. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Source = { readonly name: string; readonly value: unknown };

export interface ConfigInput {
  readonly argv?: readonly string[];
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The defaults, as a Config; tests start from this and override fields. */
export function defaultConfig(): Config {
  const raw: Record<string, unknown> = {};
  for (const s of settings) raw[s.key] = s.default;
  return raw as unknown as Config;
}

/**
 * Reads CLI arguments, environment variables and a config file (in that order of precedence),
 * validates every setting once and returns one typed, frozen Config.
 */
export function loadConfig(input: ConfigInput = {}): Config {
  const argv = input.argv ?? [];
  const env = input.env ?? {};
  const options: Record<string, { type: "string" | "boolean" }> = { config: { type: "string" } };
  for (const s of settings) options[s.flag] = { type: s.type === "bool" ? "boolean" : "string" };
  let parsed: Record<string, string | boolean | undefined>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (err) {
    throw new ConfigError(`command line: ${(err as Error).message}`);
  }

  const configPath = (parsed["config"] as string | undefined) ?? env["VIRTUFIN_CONFIG"];
  const fileValues = configPath === undefined || configPath === "" ? {} : readConfigFile(configPath);

  const out: Record<string, unknown> = {};
  for (const s of settings) {
    const source = pick(s, parsed, env, fileValues, configPath);
    out[s.key] = source === undefined ? s.default : coerce(s, source);
  }
  return Object.freeze(out) as unknown as Config;
}

function pick(
  s: Setting,
  args: Record<string, string | boolean | undefined>,
  env: Readonly<Record<string, string | undefined>>,
  file: Record<string, unknown>,
  configPath: string | undefined,
): Source | undefined {
  const fromArg = args[s.flag];
  if (fromArg !== undefined) return { name: `--${s.flag}`, value: fromArg };
  for (const name of s.env) {
    const v = env[name];
    if (v !== undefined && v !== "") return { name: `environment variable ${name}`, value: v };
  }
  if (Object.hasOwn(file, s.key)) return { name: `"${s.key}" in ${configPath}`, value: file[s.key] };
  return undefined;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  const known = new Set(settings.map((s) => s.key as string));
  for (const k of Object.keys(data)) {
    if (!known.has(k)) throw new ConfigError(`config file ${path}: unknown setting "${k}"`);
  }
  return data as Record<string, unknown>;
}

function coerce(s: Setting, src: Source): unknown {
  const bad = (why: string) => new ConfigError(`${src.name} (${s.key}): ${why}`);
  const v = src.value;
  switch (s.type) {
    case "int": {
      const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n)) throw bad(`expected a whole number, got ${JSON.stringify(v)}`);
      if (s.min !== undefined && n < s.min) throw bad(`must be at least ${s.min}, got ${n}`);
      if (s.max !== undefined && n > s.max) throw bad(`must be at most ${s.max}, got ${n}`);
      return n;
    }
    case "bool": {
      if (typeof v === "boolean") return v;
      if (v === "true" || v === "1") return true;
      if (v === "false" || v === "0") return false;
      throw bad(`expected true or false, got ${JSON.stringify(v)}`);
    }
    case "list": {
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return Object.freeze([...v]);
      if (typeof v === "string") {
        return Object.freeze(v.split(",").map((x) => x.trim()).filter((x) => x !== ""));
      }
      throw bad(`expected a comma-separated list, got ${JSON.stringify(v)}`);
    }
    case "enum": {
      if (typeof v !== "string" || !s.values?.includes(v)) {
        throw bad(`must be one of ${s.values?.join(", ")}, got ${JSON.stringify(v)}`);
      }
      return v;
    }
    case "string": {
      if (typeof v !== "string") throw bad(`expected text, got ${JSON.stringify(v)}`);
      return v;
    }
  }
}

/** The `--help` text, generated from the settings table. */
export function helpText(): string {
  const lines = ["Usage: virtufin-api [--config file.json] [options]", ""];
  for (const s of settings) {
    const def = Array.isArray(s.default) ? s.default.join(",") : String(s.default);
    lines.push(`  --${s.flag.padEnd(30)} ${s.description} [env ${s.env.join(", ")}; default ${JSON.stringify(def)}]`);
  }
  return lines.join("\n");
}
