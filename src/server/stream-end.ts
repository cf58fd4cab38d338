/**
 * Watching how a server stream ends (the error boundary, the rpc log line, the trace span)
 * without an async generator per interceptor: an idle Subscribe stream is parked inside every
 * wrapper around its messages, and a suspended async generator keeps its whole frame, request
 * queue and promises alive, where this iterator keeps two fields.
 *
 * It behaves like `try { yield* source } catch (e) { throw ended(e) } finally { ended() }`:
 * `ended` is called once: with `failed` and the error when the source failed (what it returns is
 * thrown in its place), or with `failed` false when the source finished or the reader stopped
 * early. As with a
 * generator, a stream whose reader stops before asking for the first message never runs it.
 */
export type StreamEnded = (failed: boolean, error: unknown) => unknown;

export function whenStreamEnds<T>(source: AsyncIterable<T>, ended: StreamEnded): AsyncIterable<T> {
  return new EndWatchingIterator(source, ended);
}

class EndWatchingIterator<T> implements AsyncIterableIterator<T> {
  private iterator: AsyncIterator<T> | undefined;
  private finished = false;

  constructor(
    private source: AsyncIterable<T> | undefined,
    private ended: StreamEnded | undefined,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  // Not async: a suspended async method would keep a frame per wrapper while the stream idles.
  next(): Promise<IteratorResult<T>> {
    if (this.finished) return Promise.resolve({ done: true, value: undefined });
    let pending: Promise<IteratorResult<T>>;
    try {
      if (this.iterator === undefined) this.iterator = (this.source as AsyncIterable<T>)[Symbol.asyncIterator]();
      this.source = undefined;
      pending = this.iterator.next();
    } catch (err) {
      return Promise.reject(this.end(err, true));
    }
    return pending.then(
      (result) => {
        if (result.done !== true) return result;
        this.end(undefined, false);
        return { done: true, value: undefined };
      },
      (err: unknown) => {
        throw this.end(err, true);
      },
    );
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    if (this.finished) return { done: true, value: value as T };
    const iterator = this.iterator;
    if (iterator === undefined) {
      // Never started: like a generator in its initial state, end without running `ended`.
      this.finished = true;
      this.source = undefined;
      this.ended = undefined;
      return { done: true, value: value as T };
    }
    try {
      await iterator.return?.(value);
    } catch (err) {
      throw this.end(err, true);
    }
    this.end(undefined, false);
    return { done: true, value: value as T };
  }

  /** Runs `ended` once; returns what to throw for a failure. */
  private end(error: unknown, failed: boolean): unknown {
    if (this.finished) return error;
    this.finished = true;
    this.iterator = undefined;
    const ended = this.ended as StreamEnded;
    this.ended = undefined;
    const replaced = ended(failed, failed ? error : undefined);
    return failed ? replaced : error;
  }
}
