/**
 * A small gRPC unary client over one node:http2 session, for the hot calls to the Dapr sidecar
 * (state get/save/delete, publish). Connect's client runs each unary call through its streaming
 * pipeline of async iterators, web Headers and linked abort controllers: on the Dapr backend that
 * was about half of the gateway's CPU per request. A unary gRPC call is one HEADERS frame, one
 * enveloped message, and a status in the trailers; this does only that.
 *
 * Errors are ConnectErrors with the gRPC status the sidecar sent (grpc-message decoded), so the
 * resilience layer classifies them as before; transport failures become UNAVAILABLE with the
 * Node error as cause (its code — ECONNREFUSED, ECONNRESET — is what the retry rules read), a
 * reset stream maps its HTTP/2 code as Connect does. The session is opened on first use and
 * again after it closes (the sidecar restarted); it never keeps the process alive by itself.
 */
import * as http2 from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { context, propagation } from "@opentelemetry/api";
import { Code, ConnectError } from "@connectrpc/connect";

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = http2.constants;

export class GrpcUnaryClient {
  private session: http2.ClientHttp2Session | undefined;

  constructor(private readonly authority: string) {}

  /** Calls one unary method; rejects with a ConnectError. Aborting `signal` cancels the stream. */
  call<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, input: MessageInitShape<I>, signal: AbortSignal): Promise<MessageShape<O>> {
    if (signal.aborted) return Promise.reject(ConnectError.from(signal.reason, Code.Canceled));
    let session: http2.ClientHttp2Session;
    let stream: http2.ClientHttp2Stream;
    try {
      session = this.sessionNow();
      const headers: http2.OutgoingHttpHeaders = {
        ":method": "POST",
        ":path": `/${method.parent.typeName}/${method.name}`,
        "content-type": "application/grpc+proto",
        te: "trailers",
      };
      // The active trace continues into the sidecar (W3C traceparent/tracestate).
      propagation.inject(context.active(), headers);
      stream = session.request(headers);
    } catch (err) {
      return Promise.reject(transportError(err));
    }
    const body = toBinary(method.input, create(method.input, input));
    const frame = Buffer.allocUnsafe(5 + body.byteLength);
    frame[0] = 0;
    frame.writeUInt32BE(body.byteLength, 1);
    frame.set(body, 5);
    stream.end(frame);
    return new Promise<MessageShape<O>>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message: string | undefined;
      let streamError: unknown;
      const onAbort = () => {
        reject(ConnectError.from(signal.reason, Code.Canceled));
        stream.close(NGHTTP2_CANCEL);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const takeStatus = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) {
          status = String(h["grpc-status"]);
          message = h["grpc-message"] === undefined ? undefined : String(h["grpc-message"]);
        }
      };
      stream.on("response", takeStatus); // a trailers-only answer carries its status here
      stream.on("trailers", takeStatus);
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", (err) => (streamError = err));
      stream.on("close", () => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) return;
        if (status === undefined) {
          reject(streamError !== undefined ? transportError(streamError) : resetError(stream.rstCode));
          return;
        }
        if (status !== "0") {
          reject(new ConnectError(message === undefined ? "" : decodeGrpcMessage(message), codeOf(status)));
          return;
        }
        const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        if (bytes.byteLength < 5 || bytes[0] !== 0 || bytes.readUInt32BE(1) !== bytes.byteLength - 5) {
          reject(new ConnectError("protocol error: the sidecar's answer is not one uncompressed message", Code.Internal));
          return;
        }
        try {
          resolve(fromBinary(method.output, bytes.subarray(5)));
        } catch (err) {
          reject(new ConnectError(`parse binary: ${err instanceof Error ? err.message : String(err)}`, Code.Internal));
        }
      });
    });
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private sessionNow(): http2.ClientHttp2Session {
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = http2.connect(this.authority);
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    // Errors reach each stream too; the session is just replaced on its next use.
    session.on("error", forget);
    session.on("close", forget);
    session.on("goaway", forget);
    session.unref();
    this.session = session;
    return session;
  }
}

/** A Node transport error as UNAVAILABLE, keeping the error (and its code) as the cause. */
function transportError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new ConnectError(text, Code.Unavailable, undefined, undefined, err);
}

/** A stream reset without a status, mapped as Connect maps HTTP/2 reset codes. */
function resetError(rstCode: number | undefined): ConnectError {
  switch (rstCode) {
    case NGHTTP2_REFUSED_STREAM:
      return new ConnectError("http/2 stream closed with error code REFUSED_STREAM (0x7)", Code.Unavailable);
    case NGHTTP2_CANCEL:
      return new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled);
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return new ConnectError("http/2 stream closed with error code ENHANCE_YOUR_CALM (0xb)", Code.ResourceExhausted);
    case NGHTTP2_NO_ERROR:
    case undefined:
      return new ConnectError("the sidecar closed the stream without a status", Code.Unavailable);
    default:
      return new ConnectError(`http/2 stream closed with error code ${rstCode}`, Code.Internal);
  }
}

function codeOf(status: string): Code {
  const n = Number(status);
  return Number.isInteger(n) && n >= 1 && n <= 16 ? (n as Code) : Code.Unknown;
}

function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
