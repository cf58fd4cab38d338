/**
 * A server stream that keeps itself open: when it fails or ends it is opened again after a
 * back-off, until it is stopped. An UNAUTHENTICATED failure is not retried: it waits for a token.
 */
import { auth, Code, describeError, isCode } from "./api.js";
import { backoffMs } from "./format.js";

export type StreamStatus =
  | { readonly state: "connecting" }
  | { readonly state: "connected"; readonly since: number }
  | { readonly state: "disconnected"; readonly error: string; readonly retryAt: number }
  | { readonly state: "unauthenticated"; readonly error: string }
  | { readonly state: "stopped" };

export interface LiveStreamOptions<T> {
  /** Opens the stream; calls onHeader once the server has registered it. */
  open(signal: AbortSignal, onHeader: () => void): AsyncIterable<T>;
  onMessage(message: T): void;
  onStatus(status: StreamStatus): void;
}

export class LiveStream<T> {
  private abort: AbortController | undefined;

  constructor(private readonly options: LiveStreamOptions<T>) {
    // A new token may be what this stream was waiting for.
    auth.onToken.add(() => {
      if (this.abort !== undefined) this.restart();
    });
  }

  get running(): boolean {
    return this.abort !== undefined;
  }

  /** (Re)opens the stream, e.g. with new filters. */
  restart(): void {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    void this.run(abort.signal);
  }

  stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    this.options.onStatus({ state: "stopped" });
  }

  private async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      this.options.onStatus({ state: "connecting" });
      let error: string;
      try {
        const onHeader = () => {
          attempt = 0;
          if (!signal.aborted) this.options.onStatus({ state: "connected", since: Date.now() });
        };
        for await (const message of this.options.open(signal, onHeader)) {
          if (signal.aborted) return;
          this.options.onMessage(message);
        }
        error = "the gateway ended the stream";
      } catch (err) {
        if (signal.aborted) return;
        error = describeError(err);
        if (isCode(err, Code.Unauthenticated)) {
          this.options.onStatus({ state: "unauthenticated", error });
          return; // restarted by auth.onToken
        }
      }
      if (signal.aborted) return;
      const delay = backoffMs(attempt++, Math.random());
      this.options.onStatus({ state: "disconnected", error, retryAt: Date.now() + delay });
      await sleep(delay, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
