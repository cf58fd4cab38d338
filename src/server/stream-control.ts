/**
 * What a streaming handler may ask of the transport beneath it, passed in through Connect's
 * context values: send the response headers now (so the client knows it is subscribed before
 * the first event), and reset the stream (a slow consumer blocked past its grace period).
 */
import { createContextKey } from "@connectrpc/connect";

export interface StreamControl {
  /**
   * Sends the response headers at once (status 200, as every streaming protocol answers) instead
   * of with the first message, as Connect otherwise does; later calls do nothing.
   */
  sendHeaders(header: Headers): void;
  /** Resets the underlying HTTP/2 stream or closes the HTTP/1.1 connection. */
  reset(): void;
}

export const streamControlKey = createContextKey<StreamControl | undefined>(undefined, {
  description: "stream control of the current request",
});
