/** Progress lines with the run's elapsed time: `[W1 12s] N=1000 gateway run 2/3: 41,200 msgs/s`. */
export class Progress {
  private readonly started = performance.now();

  constructor(private readonly write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {}

  elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  line(tag: string, text: string): void {
    this.write(`[${tag} ${Math.round(this.elapsedSeconds())}s] ${text}`);
  }
}

/** 41200.4 -> "41,200". */
export function formatInt(v: number): string {
  return Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "n/a";
}

/** Microseconds as milliseconds with sensible precision: 1234 -> "1.23", 56 -> "0.056". */
export function formatMs(us: number): string {
  if (!Number.isFinite(us)) return "n/a";
  const ms = us / 1000;
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

export function formatBytes(b: number): string {
  if (!Number.isFinite(b)) return "n/a";
  const a = Math.abs(b);
  if (a >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (a >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (a >= 2 ** 10) return `${(b / 2 ** 10).toFixed(1)} KiB`;
  return `${Math.round(b)} B`;
}

/** CPU-seconds per message as microseconds of CPU: 2.5e-5 -> "25.0 µs". */
export function formatCpuPerMsg(seconds: number): string {
  if (!Number.isFinite(seconds)) return "n/a";
  const us = seconds * 1e6;
  return `${us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2)} µs`;
}

export function formatRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? "n/a" : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}
