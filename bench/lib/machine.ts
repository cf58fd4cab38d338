/** What the report says about the machine and the run: CPU, cores, memory, Node, load, commit. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly kernel: string;
  readonly loadAverage: readonly number[];
  readonly commit: string;
  readonly date: string;
}

export function cpuModelFrom(cpuinfo: string): string | undefined {
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim();
}

export function machineInfo(): MachineInfo {
  let model: string | undefined;
  try {
    model = cpuModelFrom(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    model = undefined;
  }
  const git = (args: string[]) => spawnSync("git", args, { encoding: "utf8" }).stdout?.trim() ?? "";
  const head = git(["rev-parse", "--short", "HEAD"]);
  const dirty = git(["status", "--porcelain", "--untracked-files=no"]) !== "";
  return {
    cpuModel: model ?? cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
    loadAverage: loadavg().map((v) => Math.round(v * 100) / 100),
    commit: head === "" ? "unknown" : `${head}${dirty ? " (with uncommitted changes)" : ""}`,
    date: new Date().toISOString(),
  };
}
