/**
 * Where the JSON log lines go: the lines written in one event-loop turn leave in one write at the
 * end of that turn. process.stdout on a pipe or file writes synchronously, so a line per RPC was
 * a system call per RPC (about a tenth of the main thread's busy time in the unary profile); under
 * load many calls end in the same turn and now share one. A line waits at most until the turn
 * ends, so a person tailing the log sees it at once, and the 'exit' hook writes what is pending
 * when the process exits (process.exit, an uncaught exception); only a SIGKILL can lose one turn.
 */

/** The part of a Writable the sink writes to. */
export interface LineDestination {
  write(text: string): unknown;
}

/** Sinks with lines pending, written out at exit. */
const pendingAtExit = new Set<TurnBufferedSink>();
let exitHookInstalled = false;

export class TurnBufferedSink {
  private pending: string[] = [];
  private readonly flushNow = () => this.flush();

  constructor(private readonly out: LineDestination) {}

  /** pino's destination interface: one serialised line, newline included. */
  write(line: string): void {
    this.pending.push(line);
    if (this.pending.length > 1) return;
    setImmediate(this.flushNow);
    pendingAtExit.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once("exit", flushAllPending);
    }
  }

  /** Writes the pending lines now (idempotent); pino's logger.flush(cb) calls this. */
  flush(done?: (err?: Error) => void): void {
    if (this.pending.length === 0) return done?.();
    const text = this.pending.length === 1 ? (this.pending[0] as string) : this.pending.join("");
    this.pending = [];
    pendingAtExit.delete(this);
    this.out.write(text);
    done?.();
  }
}

function flushAllPending(): void {
  for (const sink of [...pendingAtExit]) sink.flush();
}
