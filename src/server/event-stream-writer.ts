/**
 * The fan-out fast path of a server stream: the messages of a MessageFeed are framed (once per
 * message and codec, see framing.ts) and written straight to the Node response, all messages a
 * stream got in one event-loop turn in one write. Connect's per-message pipeline (async
 * iterators, envelope transforms, three interceptor wrappers) is bypassed; the call's start and
 * end still go through Connect, so the response headers, the status at the end, interceptors,
 * the log line and the span stay exactly as they were.
 *
 * Backpressure is the feed's: a stream whose write buffer is full is not flushed again until
 * 'drain', so its queue fills and its owner (the subscription manager) cuts it when it overflows.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { frameOf, type Codec } from "./framing.js";
import type { MessageFeed } from "./stream-control.js";

/** The part of http.ServerResponse / http2.Http2ServerResponse the writer uses. */
export interface WritableResponse {
  write(chunk: Uint8Array): boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

interface Flushable {
  flush(): void;
}

/** Streams with messages waiting, flushed together once per event-loop turn. */
let dirty = new Set<Flushable>();
let flushScheduled = false;

function schedule(stream: Flushable): void {
  dirty.add(stream);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushDirty);
  }
}

function flushDirty(): void {
  flushScheduled = false;
  const batch = dirty;
  dirty = new Set();
  for (const stream of batch) stream.flush();
}

export interface PipeOptions<Desc extends DescMessage> {
  readonly schema: Desc;
  readonly codec: Codec;
  readonly writeMaxBytes?: number | undefined;
}

/** Writes the feed to `res` until it ends; see StreamControl.pipe for the outcome. */
export function pipeFeed<Desc extends DescMessage>(
  res: WritableResponse,
  feed: MessageFeed<MessageShape<Desc>>,
  options: PipeOptions<Desc>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => new FeedPipe(res, feed, options, resolve, reject).start());
}

/**
 * One piped stream's state. A class with prototype methods rather than closures: an idle stream
 * holds this object and three bound listeners, not a context plus a closure per step.
 */
class FeedPipe<Desc extends DescMessage> implements Flushable {
  private done = false;
  private blocked = false;
  private readonly wake: () => void;
  private readonly onDrain: () => void;
  private readonly onClose: () => void;

  constructor(
    private readonly res: WritableResponse,
    private readonly feed: MessageFeed<MessageShape<Desc>>,
    private readonly options: PipeOptions<Desc>,
    private readonly resolve: () => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.wake = this.scheduleFlush.bind(this);
    this.onDrain = this.drained.bind(this);
    this.onClose = this.closed.bind(this);
  }

  start(): void {
    // The client may have gone before the pipe started ('close' would not come again).
    if (this.res.destroyed) return this.finish(canceled());
    this.res.once("close", this.onClose);
    this.flush();
  }

  flush(): void {
    if (this.done || this.blocked) return;
    const { res, feed } = this;
    const messages = feed.takeAll();
    if (messages.length > 0) {
      if (res.destroyed || res.writableEnded) return this.finish(canceled());
      let chunk: Buffer;
      try {
        chunk = this.frames(messages);
      } catch (err) {
        return this.finish(err);
      }
      if (!res.write(chunk)) {
        this.blocked = true;
        res.once("drain", this.onDrain);
        return;
      }
    }
    const ending = feed.ending();
    if (ending !== undefined) return this.finish(ending.error, ending.error === undefined);
    feed.onWake(this.wake);
  }

  private frames(messages: Array<MessageShape<Desc>>): Buffer {
    const { schema, codec, writeMaxBytes } = this.options;
    if (messages.length === 1) return frameOf(schema, messages[0] as MessageShape<Desc>, codec, writeMaxBytes);
    const list = new Array<Buffer>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      list[i] = frameOf(schema, messages[i] as MessageShape<Desc>, codec, writeMaxBytes);
    }
    return Buffer.concat(list);
  }

  private scheduleFlush(): void {
    if (!this.done && !this.blocked) schedule(this);
  }

  private drained(): void {
    this.blocked = false;
    this.flush();
  }

  private closed(): void {
    this.finish(canceled());
  }

  private finish(error: unknown, ok = false): void {
    if (this.done) return;
    this.done = true;
    this.res.off("drain", this.onDrain);
    this.res.off("close", this.onClose);
    if (ok) this.resolve();
    else this.reject(error);
  }
}

function canceled(): ConnectError {
  return new ConnectError("the stream was closed", Code.Canceled);
}
