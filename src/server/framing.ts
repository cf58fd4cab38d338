/**
 * Message framing shared by the three streaming protocols. gRPC, gRPC-Web and Connect all carry
 * a stream's data messages in the same 5-byte envelope (flag byte 0, big-endian length, body), so
 * the frame of one message in one codec is the same bytes on every protocol; only the end of the
 * stream differs, and Connect writes that. Frames are cached per message object, so an event
 * fanned out to many streams is serialised once per codec, not once per subscriber.
 */
import { toBinary, toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

export type Codec = "proto" | "json";

/** Length of the envelope header: one flag byte and a 32-bit big-endian length. */
export const ENVELOPE_HEADER_BYTES = 5;

/**
 * The codec of a streaming response from its content type as Connect sets it, or undefined for
 * anything this module does not frame (the caller then leaves the stream to Connect).
 */
export function responseCodec(contentType: string | null): Codec | undefined {
  switch (contentType?.toLowerCase()) {
    case "application/grpc":
    case "application/grpc+proto":
    case "application/grpc-web+proto":
    case "application/connect+proto":
      return "proto";
    case "application/grpc+json":
    case "application/grpc-web+json":
    case "application/connect+json":
      return "json";
    default:
      return undefined;
  }
}

/** One message in its envelope; flags 0 for data (0x80 gRPC-Web trailers, 0x02 Connect end-stream). */
export function envelope(body: Uint8Array, flags = 0): Buffer {
  const frame = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + body.byteLength);
  frame[0] = flags;
  frame.writeUInt32BE(body.byteLength, 1);
  frame.set(body, ENVELOPE_HEADER_BYTES);
  return frame;
}

/** The body of a message as Connect serialises it: binary protobuf, or canonical JSON in UTF-8. */
export function serialize<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, codec: Codec): Uint8Array {
  return codec === "proto" ? toBinary(schema, message) : Buffer.from(toJsonString(schema, message), "utf8");
}

interface CachedFrames {
  proto?: Buffer;
  json?: Buffer;
  /** The binary body the message was decoded from, framed instead of encoding it again (then dropped). */
  protoBody?: Uint8Array | undefined;
}

/** Frames by message object: a message is never changed once it is fanned out. */
const frames = new WeakMap<object, CachedFrames>();

/**
 * Records that `message` was decoded from `body` (binary protobuf) and will not be changed, so its
 * proto frame is those bytes in an envelope: an event that came from the broker is not encoded
 * again by every gateway that fans it out. Returns the message.
 */
export function decodedFrom<T extends object>(message: T, body: Uint8Array): T {
  frames.set(message, { protoBody: body });
  return message;
}

/**
 * The envelope of `message` in `codec`, built on first use and shared afterwards. Throws
 * RESOURCE_EXHAUSTED, as Connect does, when the body is larger than `writeMaxBytes`.
 */
export function frameOf<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, codec: Codec, writeMaxBytes = Infinity): Buffer {
  let cached = frames.get(message);
  if (cached === undefined) frames.set(message, (cached = {}));
  let frame = cached[codec];
  if (frame === undefined) {
    if (codec === "proto" && cached.protoBody !== undefined) {
      frame = cached.proto = envelope(cached.protoBody);
      cached.protoBody = undefined;
    } else {
      frame = cached[codec] = envelope(serialize(schema, message, codec));
    }
  }
  const bodyBytes = frame.byteLength - ENVELOPE_HEADER_BYTES;
  if (bodyBytes > writeMaxBytes) {
    throw new ConnectError(`message size ${bodyBytes} is larger than configured writeMaxBytes ${writeMaxBytes}`, Code.ResourceExhausted);
  }
  return frame;
}

/** Splits a byte stream of envelopes into {flags, body}; the inverse of `envelope`, for tests and tools. */
export function splitEnvelopes(bytes: Uint8Array): Array<{ flags: number; body: Uint8Array }> {
  const out: Array<{ flags: number; body: Uint8Array }> = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < ENVELOPE_HEADER_BYTES) throw new Error(`truncated envelope header at byte ${at}`);
    const length = view.getUint32(at + 1);
    const end = at + ENVELOPE_HEADER_BYTES + length;
    if (end > bytes.byteLength) throw new Error(`truncated envelope body at byte ${at}`);
    out.push({ flags: bytes[at] as number, body: bytes.subarray(at + ENVELOPE_HEADER_BYTES, end) });
    at = end;
  }
  return out;
}
