/**
 * What a streaming handler may ask of the transport beneath it, passed in through Connect's
 * context values: send the response headers now (so the client knows it is subscribed before
 * the first event), reset the stream (a slow consumer blocked past its grace period), and hand
 * over a feed of messages for the transport to frame and write itself (the fan-out fast path).
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { createContextKey } from "@connectrpc/connect";

/**
 * A queue of messages for one stream that the transport drains itself (pull, not push: the
 * queue fills while the stream is blocked, and its owner decides what happens when it is full).
 */
export interface MessageFeed<T> {
  /** Moves every waiting message out, oldest first; an empty array when none is waiting. */
  takeAll(): T[];
  /** Calls `wake` once, at the next message or when the feed ends; replaces an earlier callback. */
  onWake(wake: () => void): void;
  /**
   * How the feed ended, asked once the queue is empty: undefined while it is open, `{}` when it
   * ended normally, `{ error }` when the stream must end with that error.
   */
  ending(): { readonly error?: unknown } | undefined;
}

export interface StreamControl {
  /**
   * Sends the response headers at once (status 200, as every streaming protocol answers) instead
   * of with the first message, as Connect otherwise does; later calls do nothing.
   */
  sendHeaders(header: Headers): void;
  /** Resets the underlying HTTP/2 stream or closes the HTTP/1.1 connection. */
  reset(): void;
  /**
   * Writes the feed's messages straight to the response, each message serialised once however
   * many streams send it and the messages of one event-loop turn coalesced into one write, until
   * the feed ends. Resolves when it ended normally; rejects with its error, or with CANCELED when
   * the client went away. The caller then returns or throws as usual, and Connect ends the stream
   * (trailers, gRPC-Web trailer frame, Connect end-stream message) exactly as before.
   *
   * Returns undefined when the response cannot be written directly (say it is compressed); the
   * caller then yields its messages through Connect.
   */
  pipe?<Desc extends DescMessage>(schema: Desc, responseHeader: Headers, feed: MessageFeed<MessageShape<Desc>>): Promise<void> | undefined;
}

export const streamControlKey = createContextKey<StreamControl | undefined>(undefined, {
  description: "stream control of the current request",
});
