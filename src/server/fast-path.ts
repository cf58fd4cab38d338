/**
 * What the unary and Subscribe fast paths share: the one message of a request body, parsing it
 * as Connect does (same errors), the router's interceptors around an implementation, and copying
 * headers an interceptor replaced.
 */
import { fromBinary, fromJsonString, type DescMessage, type JsonReadOptions } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { CompactHeaders } from "./compact-headers.js";
import { ENVELOPE_HEADER_BYTES, type Codec } from "./framing.js";

/** What both fast paths need of the router's options. */
export interface FastCallOptions {
  readonly interceptors: readonly Interceptor[];
  readonly readMaxBytes: number;
  readonly writeMaxBytes?: number | undefined;
  readonly jsonOptions?: Partial<JsonReadOptions> | undefined;
}

export type WireProtocol = "grpc" | "grpc-web" | "connect";

/** What a fast path speaks with a client: the protocol, the codec, and the content type Connect answers with. */
export interface Wire {
  readonly protocol: WireProtocol;
  readonly codec: Codec;
  readonly responseContentType: string;
}

export type HeaderValue = string | string[] | undefined;

/** The response headers a fast-path call starts with: its content type. */
export function initialResponseHeader(wire: Wire): Headers {
  return new CompactHeaders({ "content-type": wire.responseContentType });
}

/** The response trailers a fast-path call starts with: gRPC's status 0 (Connect's end carries no status field). */
export function initialResponseTrailer(wire: Wire): Headers {
  return new CompactHeaders(wire.protocol === "connect" ? {} : { "grpc-status": "0" });
}

export function single(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The wire of a gRPC or gRPC-Web content type (the same for unary and streaming calls: both
 * envelope their messages), or undefined; gRPC only over HTTP/2.
 */
export function grpcWire(contentType: string | undefined, httpVersionMajor: number): Wire | undefined {
  switch (contentType) {
    case "application/grpc":
    case "application/grpc+proto":
      return httpVersionMajor === 2 ? { protocol: "grpc", codec: "proto", responseContentType: "application/grpc+proto" } : undefined;
    case "application/grpc+json":
      return httpVersionMajor === 2 ? { protocol: "grpc", codec: "json", responseContentType: "application/grpc+json" } : undefined;
    case "application/grpc-web":
    case "application/grpc-web+proto":
      return { protocol: "grpc-web", codec: "proto", responseContentType: "application/grpc-web+proto" };
    case "application/grpc-web+json":
      return { protocol: "grpc-web", codec: "json", responseContentType: "application/grpc-web+json" };
    default:
      return undefined;
  }
}

/**
 * The one message of a request body, or undefined when the body is not exactly one uncompressed
 * envelope within `readMaxBytes` (Connect then answers it, with its own errors).
 */
export function singleEnvelope(body: Uint8Array, readMaxBytes: number): Uint8Array | undefined {
  if (body.byteLength < ENVELOPE_HEADER_BYTES || body[0] !== 0) return undefined;
  const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1);
  if (length > readMaxBytes || ENVELOPE_HEADER_BYTES + length !== body.byteLength) return undefined;
  return body.subarray(ENVELOPE_HEADER_BYTES);
}

/** Parses a request message as Connect's serialisation does: binary errors INTERNAL, JSON errors INVALID_ARGUMENT. */
export function parseMessage(schema: DescMessage, bytes: Uint8Array, codec: Codec, jsonOptions: Partial<JsonReadOptions> | undefined): unknown {
  if (codec === "proto") {
    try {
      return fromBinary(schema, bytes);
    } catch (e) {
      throw new ConnectError(`parse binary: ${e instanceof Error ? e.message : String(e)}`, Code.Internal);
    }
  }
  try {
    return fromJsonString(schema, new TextDecoder().decode(bytes), { ignoreUnknownFields: true, ...jsonOptions });
  } catch (e) {
    throw ConnectError.from(e, Code.InvalidArgument);
  }
}

/** The interceptors around `last`, the first one outermost (as Connect applies them). */
export function withInterceptors<Req, Res>(interceptors: readonly Interceptor[], last: (req: Req) => Promise<Res>): (req: Req) => Promise<Res> {
  let next = last;
  for (let i = interceptors.length - 1; i >= 0; i--) next = (interceptors[i] as Interceptor)(next as never) as unknown as (req: Req) => Promise<Res>;
  return next;
}

/** Makes `to` hold exactly the fields of `from` (an interceptor may have answered with new Headers). */
export function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  to.forEach((_, key) => to.delete(key));
  from.forEach((value, key) => to.set(key, value));
}
