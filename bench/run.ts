/**
 * `npm run bench [-- --quick] [--only W1,W3] [--out docs/benchmarks.md] [--guard] [--guard-file bench/guard.json] [--no-pin]`
 *
 * Runs the machine probes (W6) first, then the workloads W1..W5 with their baselines in the same
 * run, writes the Markdown report and its SVG plots, and with --guard checks the ratios against
 * bench/guard.json (exit code 1 naming each failed ratio).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { evaluateGuard, parseGuardFile } from "./lib/guard.js";
import { machineInfo } from "./lib/machine.js";
import { detectPinning, ROOT, SERVER_ENV } from "./lib/proc.js";
import { Progress } from "./lib/progress.js";
import { renderReport, type WorkloadReport } from "./lib/report.js";
import { startLoadClient } from "./lib/targets.js";
import { plotWriter, type BenchContext } from "./workloads/context.js";
import { runW1 } from "./workloads/w1-fanout.js";
import { runW2 } from "./workloads/w2-capacity.js";
import { runW3 } from "./workloads/w3-unary.js";
import { runW4 } from "./workloads/w4-publish-deliver.js";
import { runW5 } from "./workloads/w5-protocols.js";
import { runW6, type ProbeOutcome } from "./workloads/w6-probes.js";

export interface Options {
  quick: boolean;
  only: Set<string> | undefined;
  out: string;
  guard: boolean;
  guardFile: string;
  pin: boolean;
  history: boolean;
  /** Extra caveats for the report (--note, repeatable). */
  notes: string[];
}

const WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "W6"];

export function parseArgs(argv: readonly string[]): Options {
  const o: Options = { quick: false, only: undefined, out: "docs/benchmarks.md", guard: false, guardFile: "bench/guard.json", pin: true, history: true, notes: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--quick") o.quick = true;
    else if (a === "--guard") o.guard = true;
    else if (a === "--no-pin") o.pin = false;
    else if (a === "--no-history") o.history = false;
    else if (a === "--out") o.out = value();
    else if (a === "--note") o.notes.push(value());
    else if (a === "--guard-file") {
      o.guard = true;
      o.guardFile = value();
    }
    else if (a.startsWith("--out=")) o.out = a.slice(6);
    else if (a === "--only" || a.startsWith("--only=")) {
      const list = (a === "--only" ? value() : a.slice(7)).split(",").map((s) => s.trim().toUpperCase()).filter((s) => s !== "");
      const unknown = list.filter((w) => !WORKLOADS.includes(w));
      if (unknown.length > 0) throw new Error(`--only: unknown workload ${unknown.join(", ")} (known: ${WORKLOADS.join(", ")})`);
      o.only = new Set(list);
    } else if (a === "--help" || a === "-h") {
      console.log("usage: npm run bench -- [--quick] [--only W1,W3] [--out docs/benchmarks.md] [--guard] [--guard-file bench/guard.json] [--no-pin] [--no-history] [--note TEXT]");
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  return o;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const progress = new Progress();
  const pinning = detectPinning(!options.pin);
  const machine = machineInfo();
  const outPath = resolve(ROOT, options.out);
  const plotsDir = join(dirname(outPath), "bench");
  mkdirSync(plotsDir, { recursive: true });
  const run = randomBytes(3).toString("hex");
  const wants = (id: string) => options.only === undefined || options.only.has(id);
  progress.line(
    "bench",
    `${options.quick ? "quick" : "full"} run ${run} on ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}; ` +
      (pinning.enabled ? `servers on core ${pinning.serverCore}, load client on core ${pinning.clientCore}` : `not pinned: ${pinning.reason}`),
  );
  // The gateway runs from its build, as `npm start` runs it.
  progress.line("bench", "building the gateway (npm run build)");
  const build = spawnSync("npm", ["run", "--silent", "build"], { cwd: ROOT, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  const client = await startLoadClient(pinning);
  const ctx: BenchContext = {
    quick: options.quick,
    pinning,
    progress,
    client,
    run,
    service: `bench-${run}`,
    topic: `bench-${run}.events`,
    timing: options.quick ? { warmupMs: 700, measureMs: 800, repeats: 3 } : { warmupMs: 3000, measureMs: 3000, repeats: 3 },
    ratios: new Map(),
    template: undefined,
    writePlot: plotWriter(plotsDir, relative(dirname(outPath), plotsDir) || "."),
  };
  const workloads: WorkloadReport[] = [];
  let probes: ProbeOutcome | undefined;
  const caveats: string[] = [...options.notes];
  const attempt = async (id: string, fn: () => Promise<WorkloadReport>) => {
    if (!wants(id)) return;
    try {
      workloads.push(await fn());
    } catch (err) {
      const message = err instanceof Error ? err.message.split("\n")[0] ?? err.message : String(err);
      progress.line(id, `FAILED: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      workloads.push({ id, title: "(failed)", what: "", tables: [], goals: [], notes: [], plots: [], skipped: `failed in this run: ${message}` });
      process.exitCode = 1;
    }
  };
  try {
    if (wants("W6")) {
      probes = await runW6(ctx, { history: options.history });
      workloads.push(probes.report);
    }
    await attempt("W1", () => runW1(ctx));
    await attempt("W2", () => runW2(ctx));
    await attempt("W5", () => runW5(ctx));
    await attempt("W3", () => runW3(ctx));
    await attempt("W4", () => runW4(ctx));
  } finally {
    await client.stop();
  }
  // W6 first in the report as it ran first; then the workloads in their numeric order.
  workloads.sort((a, b) => (a.id === "W6" ? -1 : b.id === "W6" ? 1 : a.id.localeCompare(b.id)));

  let guardText: string | undefined;
  if (options.guard) {
    const rules = parseGuardFile(JSON.parse(readFileSync(resolve(ROOT, options.guardFile), "utf8"))).rules.filter(
      (r) => options.only === undefined || options.only.has(r.ratio.split(" ")[0] as string),
    );
    const decision = evaluateGuard(rules, ctx.ratios);
    guardText = [
      decision.ok ? "**passed**" : "**FAILED**",
      "",
      ...decision.checked.map((c) => `- ${c.ok ? "ok" : "FAIL"}: ${c.ratio} = ${c.value === undefined ? "not measured" : c.value.toFixed(3)} (threshold ${c.min})`),
    ].join("\n");
    for (const c of decision.checked) progress.line("guard", `${c.ok ? "ok  " : "FAIL"} ${c.ratio} = ${c.value === undefined ? "not measured" : c.value.toFixed(3)} (>= ${c.min})`);
    if (!decision.ok) {
      for (const f of decision.failures) console.error(`guard: ${f.message}`);
      process.exitCode = 1;
    }
  }
  if (machine.cores <= 2) caveats.push(`${machine.cores} cores: the server and the load client each get one core, and anything else running on the machine competes with them.`);
  if (!pinning.enabled) caveats.push(`Processes were not pinned (${pinning.reason}).`);
  if (probes !== undefined && !probes.stable) caveats.push(`The machine probes were not stable (${probes.verdict}): treat absolute figures as noise; ratios of back-to-back runs still hold better.`);
  if (options.quick) caveats.push("Quick mode: short windows and fewer points (a smoke run); the full run (`npm run bench`) is the one to quote.");
  const flags = [options.quick ? "--quick" : "", options.only ? `--only ${[...options.only].join(",")}` : "", options.out !== "docs/benchmarks.md" ? `--out ${options.out}` : ""].filter(Boolean);
  const command = flags.length > 0 ? `npm run bench -- ${flags.join(" ")}` : "npm run bench";
  const markdown = renderReport({
    machine,
    pinningText: pinning.enabled ? `servers on core ${pinning.serverCore}, load client on core ${pinning.clientCore} (taskset -c)` : `not pinned: ${pinning.reason}`,
    serverEnvText: `${Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`).join(" ")} for the gateway and every baseline server, as the Dockerfile runs the gateway`,
    mode: options.quick ? "quick" : "full",
    command,
    durationSeconds: progress.elapsedSeconds(),
    probeVerdict: probes?.verdict ?? "not run",
    workloads,
    ratios: ctx.ratios,
    ...(guardText !== undefined ? { guardText } : {}),
    caveats,
  });
  writeFileSync(outPath, markdown);
  progress.line("bench", `report written to ${relative(ROOT, outPath)} (plots in ${relative(ROOT, plotsDir)}/)`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
