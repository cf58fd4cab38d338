/**
 * A small gRPC unary client over one node:http2 session, for the hot calls to the Dapr sidecar
 * (state get/save/delete, publish). Connect's client runs each unary call through its streaming
 * pipeline of async iterators, web Headers and linked abort controllers: on the Dapr backend that
 * was about half of the gateway's CPU per request. A unary gRPC call is one HEADERS frame, one
 * enveloped message, and a status in the trailers; this does only that. The streaming
 * subscription uses bidi() on the same session: messages parsed as they arrive, the messages
 * sent in one turn (acks) written together.
 *
 * Errors are ConnectErrors with the gRPC status the sidecar sent (grpc-message decoded), so the
 * resilience layer classifies them as before; transport failures become UNAVAILABLE with the
 * Node error as cause (its code — ECONNREFUSED, ECONNRESET — is what the retry rules read), a
 * reset stream maps its HTTP/2 code as Connect does. The session is opened on first use and
 * again after it closes (the sidecar restarted); it never keeps the process alive by itself.
 */
import * as http2 from "node:http2";
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescMethodBiDiStreaming,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { context, propagation } from "@opentelemetry/api";
import { Code, ConnectError } from "@connectrpc/connect";

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = http2.constants;

export class GrpcUnaryClient {
  private session: http2.ClientHttp2Session | undefined;

  constructor(private readonly authority: string) {}

  /** Calls one unary method; rejects with a ConnectError. Aborting `signal` cancels the stream. */
  call<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, input: MessageInitShape<I>, signal: AbortSignal): Promise<MessageShape<O>> {
    if (signal.aborted) return Promise.reject(ConnectError.from(signal.reason, Code.Canceled));
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.request(method);
    } catch (err) {
      return Promise.reject(transportError(err));
    }
    stream.end(envelope(toBinary(method.input, create(method.input, input))));
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

  /**
   * Opens a bidirectional stream (the subscription): messages are parsed as they arrive and handed
   * to `onMessage` in order; `onEnd` is called once, without an error only for status OK. Each
   * message is parsed whole with the method's output schema, or by `decode` when given (a reader
   * of just the fields the caller needs).
   */
  bidi<I extends DescMessage, O extends DescMessage>(method: DescMethodBiDiStreaming<I, O>, handlers: BidiHandlers<MessageShape<O>>): BidiCall<I>;
  bidi<I extends DescMessage, T>(method: DescMethodBiDiStreaming<I, DescMessage>, handlers: BidiHandlers<T>, decode: (body: Uint8Array) => T): BidiCall<I>;
  bidi<I extends DescMessage, T>(
    method: DescMethodBiDiStreaming<I, DescMessage>,
    handlers: BidiHandlers<T>,
    decode = (body: Uint8Array) => fromBinary(method.output, body) as T,
  ): BidiCall<I> {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.request(method);
    } catch (err) {
      const error = transportError(err);
      queueMicrotask(() => handlers.onEnd(error));
      return { send: () => {}, pause: () => {}, resume: () => {}, cancel: () => {} }; // already ended
    }
    return new BidiStream(stream, method.input, handlers, decode);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  /** A new stream for `method` on the current session, with the active trace context in its headers. */
  private request(method: Pick<DescMethod, "name"> & { readonly parent: Pick<DescMethod["parent"], "typeName"> }): http2.ClientHttp2Stream {
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": `/${method.parent.typeName}/${method.name}`,
      "content-type": "application/grpc+proto",
      te: "trailers",
    };
    // The active trace continues into the sidecar (W3C traceparent/tracestate).
    propagation.inject(context.active(), headers);
    return this.sessionNow().request(headers);
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

export interface BidiHandlers<T> {
  onMessage(message: T): void;
  /** The end of the stream: undefined for status OK, else why (a ConnectError). */
  onEnd(error: ConnectError | undefined): void;
}

export interface BidiCall<I extends DescMessage> {
  /** Queues a message; the messages sent in one turn go out in one write. A no-op once ended. */
  send(input: MessageInitShape<I>): void;
  /** Stops reading from the socket (backpressure) until resume(). */
  pause(): void;
  resume(): void;
  /** Cancels the stream (RST_STREAM CANCEL); onEnd follows with CANCELED. */
  cancel(): void;
}

class BidiStream<I extends DescMessage, T> implements BidiCall<I> {
  private pending: Buffer[] = [];
  /** Bytes received but not yet a whole message. */
  private partial: Buffer | undefined;
  private status: string | undefined;
  private message: string | undefined;
  private failure: ConnectError | undefined;
  private ended = false;

  constructor(
    private readonly stream: http2.ClientHttp2Stream,
    private readonly input: I,
    private readonly handlers: BidiHandlers<T>,
    private readonly decode: (body: Uint8Array) => T,
  ) {
    const takeStatus = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) {
        this.status = String(h["grpc-status"]);
        this.message = h["grpc-message"] === undefined ? undefined : String(h["grpc-message"]);
      }
    };
    stream.on("response", takeStatus);
    stream.on("trailers", takeStatus);
    stream.on("data", (chunk: Buffer) => this.receive(chunk));
    // The server finished (trailers): close our side too, or the stream stays half-open.
    stream.on("end", () => {
      if (!stream.destroyed) stream.close();
    });
    stream.on("error", (err) => (this.failure ??= transportError(err)));
    stream.on("close", () => this.end());
  }

  send(input: MessageInitShape<I>): void {
    if (this.ended) return;
    this.pending.push(envelope(toBinary(this.input, create(this.input, input))));
    if (this.pending.length === 1) queueMicrotask(() => this.flush());
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  cancel(): void {
    this.failure ??= new ConnectError("the subscription was cancelled", Code.Canceled);
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
  }

  private flush(): void {
    const frames = this.pending;
    this.pending = [];
    if (this.ended || this.stream.destroyed || this.stream.writableEnded || frames.length === 0) return;
    this.stream.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }

  private receive(chunk: Buffer): void {
    let bytes = this.partial === undefined ? chunk : Buffer.concat([this.partial, chunk]);
    this.partial = undefined;
    while (bytes.byteLength >= 5 && !this.ended) {
      const length = bytes.readUInt32BE(1);
      if (bytes.byteLength < 5 + length) break;
      if (bytes[0] !== 0) {
        this.fail(new ConnectError("protocol error: the sidecar sent a compressed message", Code.Internal));
        return;
      }
      let message: T;
      try {
        message = this.decode(bytes.subarray(5, 5 + length));
      } catch (err) {
        this.fail(new ConnectError(`parse binary: ${err instanceof Error ? err.message : String(err)}`, Code.Internal));
        return;
      }
      bytes = bytes.subarray(5 + length);
      this.handlers.onMessage(message);
    }
    if (bytes.byteLength > 0) this.partial = bytes;
  }

  private fail(error: ConnectError): void {
    this.failure ??= error;
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = [];
    if (this.failure !== undefined) this.handlers.onEnd(this.failure);
    else if (this.status === undefined) this.handlers.onEnd(resetError(this.stream.rstCode));
    else if (this.status !== "0") this.handlers.onEnd(new ConnectError(this.message === undefined ? "" : decodeGrpcMessage(this.message), codeOf(this.status)));
    else this.handlers.onEnd(undefined);
  }
}

/** One uncompressed gRPC message: flag byte, 4-byte length, bytes. */
function envelope(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + body.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(body.byteLength, 1);
  frame.set(body, 5);
  return frame;
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
