/**
 * Watching how a server stream ends (the error boundary, the rpc log line, the trace span)
 * without an async generator per interceptor: an idle Subscribe stream is parked inside whatever
 * wraps its messages, and a suspended async generator keeps its whole frame, request queue and
 * promises alive. Here every interceptor's watcher joins one iterator around the handler's
 * messages, so an idle stream holds one wrapper and one pending promise, however many watch it.
 *
 * For each watcher it behaves like `try { yield* source } catch (e) { throw ended(e) } finally
 * { ended() }`, nested in the order the watchers were added (the first added is innermost):
 * `ended` is called once: with `failed` and the error when the source failed (what it returns is
 * thrown in its place, and the next watcher sees that), or with `failed` false when the source
 * finished or the reader stopped early. As with a generator, a stream whose reader stops before
 * asking for the first message runs none of them.
 */
export type StreamEnded = (failed: boolean, error: unknown) => unknown;

export function whenStreamEnds<T>(source: AsyncIterable<T>, ended: StreamEnded): AsyncIterable<T> {
  // Joining is only safe before anyone reads: a watcher added later would miss nothing, but a
  // wrapper someone else already iterates is not ours to extend.
  if (source instanceof WatchedStream && !source.started) {
    source.watch(ended);
    return source;
  }
  return new WatchedStream(source, ended);
}

class WatchedStream<T> implements AsyncIterableIterator<T> {
  private iterator: AsyncIterator<T> | undefined;
  private finished = false;
  /** One watcher in a field, more in an array: most streams have one to three. */
  private watchers: StreamEnded | StreamEnded[] | undefined;

  constructor(
    private source: AsyncIterable<T> | undefined,
    ended: StreamEnded,
  ) {
    this.watchers = ended;
  }

  get started(): boolean {
    return this.iterator !== undefined || this.finished;
  }

  watch(ended: StreamEnded): void {
    const watchers = this.watchers;
    this.watchers = watchers === undefined ? ended : Array.isArray(watchers) ? [...watchers, ended] : [watchers, ended];
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  // Not async: a suspended async method would keep a frame while the stream idles.
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
      // Never started: like a generator in its initial state, end without running the watchers.
      this.finished = true;
      this.source = undefined;
      this.watchers = undefined;
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

  /** Runs each watcher once, innermost first; returns what to throw for a failure. */
  private end(error: unknown, failed: boolean): unknown {
    if (this.finished) return error;
    this.finished = true;
    this.iterator = undefined;
    const watchers = this.watchers;
    this.watchers = undefined;
    if (watchers === undefined) return error;
    if (!Array.isArray(watchers)) {
      const replaced = watchers(failed, failed ? error : undefined);
      return failed ? replaced : error;
    }
    let current = error;
    for (const ended of watchers) {
      const replaced = ended(failed, failed ? current : undefined);
      if (failed) current = replaced;
    }
    return current;
  }
}
