/**
 * The command line of `virtufin`: one table of commands, one parseArgs over every option, then a
 * check that each option given applies to the command. Pure: argv and the environment in, a
 * command (or the help text) out; mistakes are UsageErrors.
 */
import { parseArgs } from "node:util";
import { resolveBaseUrl, type AddressEnv } from "./address.js";
import { UsageError } from "./errors.js";

export const PROTOCOLS = ["grpc", "connect", "grpc-web"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Default deadline of a unary call; Subscribe has none. */
export const DEFAULT_TIMEOUT_MS = 10_000;

const OPTIONS = {
  address: { type: "string" },
  protocol: { type: "string" },
  token: { type: "string" },
  "timeout-ms": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  etag: { type: "string" },
  "include-value": { type: "boolean" },
  type: { type: "string", multiple: true },
  source: { type: "string" },
  id: { type: "string" },
  meta: { type: "string", multiple: true },
  service: { type: "string", multiple: true },
  topic: { type: "string", multiple: true },
  "no-reconnect": { type: "boolean" },
  "max-events": { type: "string" },
  description: { type: "string" },
  "page-size": { type: "string" },
  "page-token": { type: "string" },
} as const;

type OptionName = keyof typeof OPTIONS;
const GLOBAL_OPTIONS: readonly OptionName[] = ["address", "protocol", "token", "timeout-ms", "json", "help"];

export type CommandName =
  | "state get"
  | "state set"
  | "state list"
  | "state delete"
  | "state register"
  | "publish"
  | "subscribe"
  | "scenario create"
  | "scenario get"
  | "scenario list"
  | "scenario pause"
  | "scenario resume"
  | "scenario archive"
  | "scenario delete"
  | "health";

interface CommandSpec {
  readonly name: CommandName;
  /** Positional arguments for the usage line; a trailing "..." takes one or more. */
  readonly args: readonly string[];
  readonly options: readonly string[];
  readonly summary: string;
  /** Options that may be repeated for this command (all others at most once). */
  readonly repeatable?: readonly OptionName[];
}

export const COMMANDS: readonly CommandSpec[] = [
  { name: "state get", args: ["<service>", "<key>"], options: [], summary: "print a value (its ETag on stderr; exit 3 when there is none)" },
  { name: "state set", args: ["<service>", "<key>", "<value|->"], options: ["--etag E", "--include-value"], summary: "save a value (- reads it from stdin); with --etag only if it still matches" },
  { name: "state list", args: ["<service>"], options: [], summary: "every key of the service with its ETag and value" },
  { name: "state delete", args: ["<service>", "<key>"], options: ["--etag E", "--include-value"], summary: "delete a value; with --etag only if it still matches" },
  { name: "state register", args: ["<service>", "<key>..."], options: [], summary: "add keys to the service's key index (RegisterKeys)" },
  {
    name: "publish",
    args: ["<service>", "<topic>", "<data|->"],
    options: ["--type T", "--source S", "--id I", "--meta k=v ..."],
    repeatable: ["meta"],
    summary: "publish an event (- reads the payload from stdin); prints its message id",
  },
  {
    name: "subscribe",
    args: [],
    options: ["--service S ...", "--topic T ...", "--type state|pubsub|system ...", "--max-events N", "--no-reconnect"],
    repeatable: ["service", "topic", "type"],
    summary: "stream events, one per line, until Ctrl-C; reconnects with backoff",
  },
  { name: "scenario create", args: ["<id>"], options: ["--description D"], summary: "create a scenario (active)" },
  { name: "scenario get", args: ["<id>"], options: [], summary: "show one scenario" },
  { name: "scenario list", args: [], options: ["--page-size N", "--page-token T"], summary: "list scenarios (every page unless --page-size)" },
  { name: "scenario pause", args: ["<id>"], options: [], summary: "pause an active scenario" },
  { name: "scenario resume", args: ["<id>"], options: [], summary: "resume a paused scenario" },
  { name: "scenario archive", args: ["<id>"], options: [], summary: "archive an active or paused scenario" },
  { name: "scenario delete", args: ["<id>"], options: [], summary: "delete an archived scenario" },
  { name: "health", args: [], options: ["--service NAME"], summary: "grpc.health.v1 Check; exit 0 when SERVING, 3 otherwise" },
];

const GROUPS = ["state", "scenario"] as const;

export interface GlobalOptions {
  readonly baseUrl: string;
  readonly protocol: Protocol;
  readonly token: string | undefined;
  readonly timeoutMs: number;
  readonly json: boolean;
}

export interface CommandOptions {
  readonly etag: string | undefined;
  readonly includeValue: boolean;
  readonly type: readonly string[];
  readonly source: string | undefined;
  readonly id: string | undefined;
  readonly meta: readonly string[];
  readonly service: readonly string[];
  readonly topic: readonly string[];
  readonly noReconnect: boolean;
  readonly maxEvents: number | undefined;
  readonly description: string | undefined;
  readonly pageSize: number | undefined;
  readonly pageToken: string | undefined;
}

export type ParsedCommandLine =
  | { readonly kind: "help"; readonly text: string }
  | {
      readonly kind: "run";
      readonly command: CommandName;
      readonly args: readonly string[];
      readonly options: CommandOptions;
      readonly global: GlobalOptions;
    };

export interface CliEnv extends AddressEnv {
  readonly VIRTUFIN_API_TOKEN?: string | undefined;
}

/** Parses argv (without node and the script). Throws UsageError on any mistake. */
export function parseCommandLine(argv: readonly string[], env: CliEnv): ParsedCommandLine {
  let parsed: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(parseArgsMessage(e));
  }
  const { values, positionals } = parsed;
  const [first, second] = positionals;
  if (first === undefined || first === "help") {
    if (values.help === true || first === "help") return { kind: "help", text: usage() };
    throw new UsageError("no command given");
  }

  const group = (GROUPS as readonly string[]).includes(first) ? first : undefined;
  if (group !== undefined && second === undefined) {
    if (values.help === true) return { kind: "help", text: usage(group) };
    throw new UsageError(`"${group}" needs a subcommand: ${subcommands(group).join(", ")}`);
  }
  const name = group !== undefined ? `${group} ${second}` : first;
  const spec = COMMANDS.find((c) => c.name === name);
  if (spec === undefined) {
    throw new UsageError(
      group !== undefined ? `unknown subcommand "${second}" of ${group}: ${subcommands(group).join(", ")}` : `unknown command "${first}"`,
    );
  }
  if (values.help === true) return { kind: "help", text: usage(group ?? spec.name) };

  checkOptions(spec, values);
  const args = positionals.slice(group !== undefined ? 2 : 1);
  checkArgCount(spec, args);

  return { kind: "run", command: spec.name, args, options: commandOptions(values), global: globalOptions(values, env) };
}

function subcommands(group: string): string[] {
  return COMMANDS.filter((c) => c.name.startsWith(`${group} `)).map((c) => c.name.slice(group.length + 1));
}

function optionNamesOf(spec: CommandSpec): Set<string> {
  return new Set(spec.options.map((o) => o.slice(2).split(" ")[0] ?? ""));
}

function checkOptions(spec: CommandSpec, values: Record<string, unknown>): void {
  const allowed = optionNamesOf(spec);
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (!GLOBAL_OPTIONS.includes(name as OptionName) && !allowed.has(name)) {
      throw new UsageError(`option --${name} does not apply to "${spec.name}"`);
    }
    if (Array.isArray(value) && value.length > 1 && !(spec.repeatable ?? []).includes(name as OptionName)) {
      throw new UsageError(`option --${name} may be given once to "${spec.name}"`);
    }
  }
}

function checkArgCount(spec: CommandSpec, args: readonly string[]): void {
  const variadic = spec.args.at(-1)?.endsWith("...") === true;
  const min = spec.args.length;
  if (args.length < min || (!variadic && args.length > min)) {
    const wanted = spec.args.length === 0 ? "no arguments" : spec.args.join(" ");
    throw new UsageError(`"${spec.name}" takes ${wanted}, got ${args.length === 0 ? "none" : args.map((a) => JSON.stringify(a)).join(" ")}`);
  }
}

function globalOptions(values: Record<string, unknown>, env: CliEnv): GlobalOptions {
  const protocol = (values.protocol as string | undefined) ?? "grpc";
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(", ")}, got "${protocol}"`);
  }
  const tokenFlag = values.token as string | undefined;
  const token = tokenFlag ?? (env.VIRTUFIN_API_TOKEN === "" ? undefined : env.VIRTUFIN_API_TOKEN);
  if (tokenFlag === "") throw new UsageError("--token is empty");
  return {
    baseUrl: resolveBaseUrl(values.address as string | undefined, env),
    protocol: protocol as Protocol,
    token,
    timeoutMs: positiveInt(values["timeout-ms"], "--timeout-ms") ?? DEFAULT_TIMEOUT_MS,
    json: values.json === true,
  };
}

function commandOptions(values: Record<string, unknown>): CommandOptions {
  const list = (name: OptionName) => (values[name] as string[] | undefined) ?? [];
  const text = (name: OptionName) => values[name] as string | undefined;
  return {
    etag: text("etag"),
    includeValue: values["include-value"] === true,
    type: list("type"),
    source: text("source"),
    id: text("id"),
    meta: list("meta"),
    service: list("service"),
    topic: list("topic"),
    noReconnect: values["no-reconnect"] === true,
    maxEvents: positiveInt(values["max-events"], "--max-events"),
    description: text("description"),
    pageSize: positiveInt(values["page-size"], "--page-size"),
    pageToken: text("page-token"),
  };
}

export function positiveInt(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1)) throw new UsageError(`${flag} must be a whole number of at least 1, got "${text}"`);
  return n;
}

/** parseArgs' messages carry advice about "--" that only fits some cases; keep the first sentence. */
function parseArgsMessage(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split(/\. (?=To specify)/)[0] ?? message;
}

const GLOBAL_USAGE = `Options for every command:
  --address ADDR      host:port or http(s)://host:port of the gateway
                      (default: $VIRTUFIN_API_HOST:$VIRTUFIN_API_GRPC_PORT, else localhost:5002)
  --protocol P        grpc (default; HTTP/2), connect (Connect JSON over HTTP/1.1), grpc-web (HTTP/1.1)
  --token T           bearer token (default: $VIRTUFIN_API_TOKEN)
  --timeout-ms N      deadline of each call (default ${DEFAULT_TIMEOUT_MS}; subscribe has none)
  --json              print responses and events as JSON, one per line
  -h, --help          this help`;

const EXIT_USAGE = `Exit status: 0 ok, 1 the gateway answered an error or could not be reached,
2 usage error, 3 no value (state get) or not SERVING (health), 130 interrupted.`;

/** The help text: of every command, or of one group ("state", "scenario") or command. */
export function usage(scope?: string): string {
  const specs = COMMANDS.filter((c) => scope === undefined || c.name === scope || c.name.startsWith(`${scope} `));
  const lines = specs.map((c) => {
    const synopsis = ["virtufin", c.name, ...c.args, ...c.options.map((o) => `[${o}]`)].join(" ");
    return `  ${synopsis}\n      ${c.summary}`;
  });
  const title =
    scope === undefined ? "virtufin: command-line client of the virtufin-api gateway\n\nCommands:" : "Usage:";
  return `${title}\n${lines.join("\n")}\n\n${GLOBAL_USAGE}\n\n${EXIT_USAGE}\n`;
}
