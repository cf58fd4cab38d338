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
  return new Promise<void>((resolve, reject) => {
    let done = false;
    let blocked = false;
    const stream: Flushable = {
      flush() {
        if (done || blocked) return;
        const messages = feed.takeAll();
        if (messages.length > 0) {
          if (res.destroyed || res.writableEnded) return finish(canceled());
          let chunk: Buffer;
          try {
            chunk = frames(messages);
          } catch (err) {
            return finish(err);
          }
          if (!res.write(chunk)) {
            blocked = true;
            res.once("drain", onDrain);
            return;
          }
        }
        const ending = feed.ending();
        if (ending !== undefined) return finish(ending.error, ending.error === undefined);
        feed.onWake(wake);
      },
    };
    const frames = (messages: Array<MessageShape<Desc>>): Buffer => {
      if (messages.length === 1) return frameOf(options.schema, messages[0] as MessageShape<Desc>, options.codec, options.writeMaxBytes);
      const list = new Array<Buffer>(messages.length);
      for (let i = 0; i < messages.length; i++) {
        list[i] = frameOf(options.schema, messages[i] as MessageShape<Desc>, options.codec, options.writeMaxBytes);
      }
      return Buffer.concat(list);
    };
    const wake = () => {
      if (!done && !blocked) schedule(stream);
    };
    const onDrain = () => {
      blocked = false;
      stream.flush();
    };
    const onClose = () => finish(canceled());
    const finish = (error: unknown, ok = false) => {
      if (done) return;
      done = true;
      res.off("drain", onDrain);
      res.off("close", onClose);
      if (ok) resolve();
      else reject(error);
    };
    res.once("close", onClose);
    stream.flush();
  });
}

function canceled(): ConnectError {
  return new ConnectError("the stream was closed", Code.Canceled);
}
