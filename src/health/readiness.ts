/**
 * Readiness: the gateway serves only once every condition holds (store open, backend
 * subscriptions up, ...) and stops serving at once when shutdown begins. Liveness is separate:
 * the process answering at all.
 */
export type ReadinessListener = (ready: boolean) => void;

export class Readiness {
  private readonly pending = new Set<string>();
  private shuttingDown = false;
  private readonly listeners = new Set<ReadinessListener>();

  constructor(conditions: readonly string[]) {
    for (const c of conditions) this.pending.add(c);
  }

  get ready(): boolean {
    return !this.shuttingDown && this.pending.size === 0;
  }

  /** The conditions not met yet (for /readyz). */
  get waitingFor(): string[] {
    return this.shuttingDown ? ["shutdown"] : [...this.pending];
  }

  set(condition: string, met: boolean): void {
    const before = this.ready;
    if (met) this.pending.delete(condition);
    else this.pending.add(condition);
    this.emitIfChanged(before);
  }

  beginShutdown(): void {
    const before = this.ready;
    this.shuttingDown = true;
    this.emitIfChanged(before);
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  onChange(listener: ReadinessListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emitIfChanged(before: boolean): void {
    const now = this.ready;
    if (now !== before) for (const l of this.listeners) l(now);
  }
}
