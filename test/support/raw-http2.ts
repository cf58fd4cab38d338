/**
 * A raw HTTP/2 gRPC client for what the Connect clients deliberately cannot do: stop reading a
 * stream while keeping it open, and count bytes and frames as they arrive.
 */
import * as http2 from "node:http2";
import { toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";

export function grpcFrame<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Buffer {
  const body = toBinary(schema, create(schema, init));
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(body.length, 1);
  Buffer.from(body).copy(frame, 5);
  return frame;
}

export interface RawStream {
  readonly stream: http2.ClientHttp2Stream;
  /** Resolves with the response headers. */
  readonly headers: Promise<http2.IncomingHttpHeaders>;
  /** Resolves with the trailers (or {} if the stream closed without any) once the stream closes. */
  readonly closed: Promise<{ trailers: http2.IncomingHttpHeaders; rstCode: number; bytes: number }>;
}

export function openRawGrpcStream(session: http2.ClientHttp2Session, path: string, frame: Buffer): RawStream {
  const stream = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
  });
  let bytes = 0;
  let trailers: http2.IncomingHttpHeaders = {};
  stream.on("data", (chunk: Buffer) => (bytes += chunk.length));
  stream.on("trailers", (t) => (trailers = t));
  stream.on("error", () => {});
  const headers = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    stream.once("response", resolve);
    stream.once("close", () => reject(new Error(`stream closed before headers (rst ${stream.rstCode})`)));
  });
  headers.catch(() => {});
  const closed = new Promise<{ trailers: http2.IncomingHttpHeaders; rstCode: number; bytes: number }>((resolve) => {
    stream.once("close", () => resolve({ trailers, rstCode: stream.rstCode ?? 0, bytes }));
  });
  stream.end(frame);
  return { stream, headers, closed };
}
