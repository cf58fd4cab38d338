/**
 * The bytes on the wire, shared by the load client and the baseline servers: the 5-byte message
 * envelope (flag byte + big-endian length) that gRPC, gRPC-Web and Connect streaming all use, the
 * request headers of each protocol, and an incremental frame counter that reads only headers.
 */
import type { OutgoingHttpHeaders } from "node:http2";

export type Protocol = "grpc" | "grpc-web" | "connect";
export const PROTOCOLS: readonly Protocol[] = ["grpc", "grpc-web", "connect"];

/** Flag bits of an envelope: 0x02 ends a Connect stream, 0x80 carries gRPC-Web trailers. */
export const FLAG_CONNECT_END = 0x02;
export const FLAG_GRPC_WEB_TRAILER = 0x80;

export function envelope(body: Uint8Array, flags = 0): Buffer {
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame.writeUInt8(flags, 0);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return frame;
}

/** Request headers of a streaming call (every protocol envelopes the request of a stream). */
export function streamHeaders(protocol: Protocol, path: string): OutgoingHttpHeaders {
  const base = { ":method": "POST", ":path": path };
  switch (protocol) {
    case "grpc":
      return { ...base, "content-type": "application/grpc", te: "trailers" };
    case "grpc-web":
      return { ...base, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
    case "connect":
      return { ...base, "content-type": "application/connect+proto", "connect-protocol-version": "1" };
  }
}

/** Request headers and body of a unary call: Connect unary sends the bare message, the others an envelope. */
export function unaryRequest(protocol: Protocol, path: string, message: Uint8Array): { headers: OutgoingHttpHeaders; body: Buffer } {
  if (protocol === "connect") {
    return {
      headers: { ":method": "POST", ":path": path, "content-type": "application/proto", "connect-protocol-version": "1" },
      body: Buffer.from(message),
    };
  }
  return { headers: streamHeaders(protocol, path), body: envelope(message) };
}

/**
 * Counts enveloped messages in a byte stream that arrives in arbitrary chunks, reading only the
 * 5-byte headers. Data messages (flags without 0x02/0x80) are counted; when `keep` is set, their
 * bodies are handed to `onMessage` (used only on the few sampled streams: copying costs).
 */
export class FrameCounter {
  messages = 0;
  /** Bytes of the last complete data envelope, header included. */
  lastFrameBytes = 0;
  /** Set once an end-of-stream envelope (Connect 0x02, gRPC-Web 0x80) was read. */
  ended = false;
  private header = Buffer.alloc(5);
  private headerFill = 0;
  private remaining = 0;
  private flags = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;

  constructor(private readonly onMessage?: (body: Buffer) => void) {}

  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.remaining === 0 && this.headerFill < 5) {
        // Fast path: a whole header in this chunk.
        if (this.headerFill === 0 && n - i >= 5) {
          this.flags = chunk[i] as number;
          this.remaining = chunk.readUInt32BE(i + 1);
          i += 5;
        } else {
          this.header[this.headerFill++] = chunk[i++] as number;
          if (this.headerFill < 5) continue;
          this.flags = this.header[0] as number;
          this.remaining = this.header.readUInt32BE(1);
        }
        this.headerFill = 5;
        this.lastLength = this.remaining;
        if (this.onMessage !== undefined) {
          this.body = Buffer.allocUnsafe(this.remaining);
          this.bodyFill = 0;
        }
        if (this.remaining === 0) this.finish();
        continue;
      }
      const take = Math.min(this.remaining, n - i);
      if (this.body !== undefined) {
        chunk.copy(this.body, this.bodyFill, i, i + take);
        this.bodyFill += take;
      }
      i += take;
      this.remaining -= take;
      if (this.remaining === 0) this.finish();
    }
  }

  private lastLength = 0;

  private finish(): void {
    this.headerFill = 0;
    if ((this.flags & (FLAG_CONNECT_END | FLAG_GRPC_WEB_TRAILER)) !== 0) {
      this.ended = true;
    } else {
      this.messages += 1;
      this.lastFrameBytes = this.lastLength + 5;
      if (this.onMessage !== undefined && this.body !== undefined) this.onMessage(this.body);
    }
    this.body = undefined;
  }
}
