/**
 * The Subscribe fast path (PERFORMANCE.md, lever 1): a server-streaming call served without
 * Connect's universal handler, for the common request shape only — POST, an identity-encoded
 * body holding exactly one enveloped message, no deadline header, over gRPC (HTTP/2), gRPC-Web or
 * Connect streaming, binary or JSON. Any other request is handed to Connect unchanged (with the
 * bytes already read), so compression, deadlines and malformed bodies behave exactly as before.
 *
 * What stays the same as on the Connect path: the handler context and the router's interceptors
 * (tracing span, rpc log line and metrics, error boundary, in-flight/shutdown, auth) run around
 * the call; request messages are parsed with the same options and errors; the end of the stream
 * is written with Connect's own serialisers (gRPC trailers, the gRPC-Web trailer frame, the
 * Connect end-stream message). What is gone: Connect's per-call pipeline of async iterators,
 * which cost most of the memory of an idle subscriber, and its per-message pipeline (the
 * handler hands its events to StreamControl.pipe; see event-stream-writer.ts).
 */
import type { DescMessage, DescMethodServerStreaming, DescService, JsonReadOptions, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext, type Interceptor, type StreamRequest, type StreamResponse } from "@connectrpc/connect";
import { createEndStreamSerialization, endStreamFlag } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { createTrailerSerialization, trailerFlag } from "@connectrpc/connect/protocol-grpc-web";
import { copyHeaders, grpcWire, initialResponseHeader, initialResponseTrailer, parseMessage, single, singleEnvelope, withInterceptors, type FastCallOptions, type HeaderValue, type Wire } from "./fast-path.js";
import { ENVELOPE_HEADER_BYTES, envelope, frameOf, type Codec } from "./framing.js";
import { readRequestBody, requestHeaders, type IncomingCall, type RequestBody } from "./node-request.js";

export type StreamWire = Wire;

/**
 * Whether the fast path serves a request, from its method, HTTP version and headers (pure):
 * the wire it speaks, or undefined to leave the request to Connect.
 */
export function fastStreamWire(method: string | undefined, httpVersionMajor: number, headers: Record<string, HeaderValue>): StreamWire | undefined {
  if (method !== "POST") return undefined;
  for (const name of ["grpc-encoding", "connect-content-encoding"]) {
    const encoding = single(headers[name]);
    if (encoding !== undefined && encoding !== "identity") return undefined;
  }
  // Deadlines (and their limits and errors) stay with Connect.
  if (headers["grpc-timeout"] !== undefined || headers["connect-timeout-ms"] !== undefined) return undefined;
  const contentType = single(headers["content-type"])?.toLowerCase();
  switch (contentType) {
    case "application/connect+proto":
      return { protocol: "connect", codec: "proto", responseContentType: "application/connect+proto" };
    case "application/connect+json":
      return { protocol: "connect", codec: "json", responseContentType: "application/connect+json" };
    default:
      return grpcWire(contentType, httpVersionMajor);
  }
}

/** A server-streaming method served on the fast path, with its implementation. */
export interface EventStreamMethod {
  readonly method: DescMethodServerStreaming;
  // The implementation as registered on the router (ServiceImpl); messages it yields are written too.
  readonly impl: (request: never, context: HandlerContext) => AsyncIterable<unknown>;
}

/** What the call needs of the Node response. */
export interface CallResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  write(chunk: Uint8Array): boolean;
  addTrailers(trailers: Record<string, string>): void;
  end(): void;
  end(chunk: Uint8Array): void;
  on(event: "close", listener: () => void): unknown;
  once(event: "drain" | "close" | "finish", listener: () => void): unknown;
  off(event: "drain" | "close" | "finish", listener: () => void): unknown;
}

/** What the call needs of the transport besides the response. */
export interface EventStreamTransport {
  /** Sends the response headers (at most once). */
  writeHead(header: Headers): void;
  /** Hands the request to Connect when the body turns out not to suit the fast path. */
  viaConnect(body: RequestBody): void;
  /** The call stays on the fast path: what viaConnect would have needed can be let go. */
  committed?(): void;
  /** The call could not be written to its end (the stream is reset). */
  failed(reason: unknown): void;
}

/**
 * Serves one call. Once the body is read, the call runs in `runCall`, which holds only what an
 * idle stream needs (the Node request and response, the handler context, one controller).
 */
export async function serveEventStream(
  entry: EventStreamMethod,
  wire: StreamWire,
  req: IncomingCall,
  res: CallResponse,
  transport: EventStreamTransport,
  options: FastCallOptions,
  values: ContextValues,
): Promise<void> {
  const body = await readRequestBody(req.body, options.readMaxBytes + ENVELOPE_HEADER_BYTES);
  if (body === undefined) return; // the client went away while sending
  const message = "complete" in body ? singleEnvelope(body.complete, options.readMaxBytes) : undefined;
  if (message === undefined) {
    transport.viaConnect(body);
    return;
  }
  transport.committed?.();
  const { method } = entry;
  const controller = new CallSignal(res);
  const ctx = new StreamHandlerContext(
    method,
    wire.protocol,
    req.url,
    controller,
    requestHeaders(req.headers),
    initialResponseHeader(wire),
    initialResponseTrailer(wire),
    values,
  );
  const request = new StreamCallRequest(ctx, new RequestMessage(message, method.input, wire.codec, options.jsonOptions)) as unknown as CallRequest;
  return runCall(entry, wire, res, transport, options, ctx, controller, request);
}

/** Runs the call and ends the stream (see StreamCallRun). */
function runCall(
  entry: EventStreamMethod,
  wire: StreamWire,
  res: CallResponse,
  transport: EventStreamTransport,
  options: FastCallOptions,
  ctx: HandlerContext,
  controller: CallSignal,
  request: StreamRequest,
): void {
  const run = new StreamCallRun(entry.method, wire, res, transport, options, ctx, controller);
  chainOf(entry, options.interceptors)(request).then((response) => run.onResponse(response), run.finish);
}

/** Where a request carries its call's handler context to the end of the interceptor chain. */
const callContext = Symbol("handler context of the call");
type CallRequest = StreamRequest & { [callContext]?: HandlerContext };

/**
 * The interceptors around a method's implementation, built once per method rather than once per
 * call: the chain's closures would otherwise be kept per stream for as long as it idles (the
 * interceptors' end-of-stream watchers hold their scopes). The call's context travels on the
 * request (object spread keeps it when an interceptor makes a new request).
 */
const chains = new WeakMap<EventStreamMethod, { readonly interceptors: readonly Interceptor[]; readonly next: (req: StreamRequest) => Promise<StreamResponse> }>();

function chainOf(entry: EventStreamMethod, interceptors: readonly Interceptor[]): (req: StreamRequest) => Promise<StreamResponse> {
  const cached = chains.get(entry);
  if (cached !== undefined && cached.interceptors === interceptors) return cached.next;
  const next = withInterceptors<StreamRequest, StreamResponse>(interceptors, (req) => {
    const ctx = (req as CallRequest)[callContext];
    if (ctx === undefined) return Promise.reject(new ConnectError("an interceptor dropped the call's context from the request", Code.Internal));
    return invokeHandler(entry, ctx, req);
  });
  chains.set(entry, { interceptors, next });
  return next;
}

/**
 * One call from the handler's response to the end of the stream:
 * `try { for await (const m of response.message) await write(m); end() } catch (e) { end(e) }`,
 * written as an object with a few callbacks rather than as an async function or a promise chain.
 * An idle Subscribe stream waits here for its whole life, and a parked async frame, or each
 * promise of a chain (with its reaction, and async-hook fields while a context manager is on),
 * would be held per stream. next() is asked only once the last write is done; when a write fails
 * the iterator is closed (return()) and the write's error wins, as in a for-await loop.
 */
class StreamCallRun {
  private iterator: AsyncIterator<unknown> | undefined;
  private trailer: Headers | undefined;

  constructor(
    private readonly method: DescMethodServerStreaming,
    private readonly wire: StreamWire,
    private readonly res: CallResponse,
    private readonly transport: EventStreamTransport,
    private readonly options: FastCallOptions,
    private readonly ctx: HandlerContext,
    private readonly controller: CallSignal,
  ) {}

  onResponse(response: StreamResponse): void {
    try {
      copyHeaders(response.header, this.ctx.responseHeader);
      this.trailer = response.trailer;
      this.iterator = (response.message as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    } catch (err) {
      return this.finish(err);
    }
    this.step();
  }

  /** Asks for the next message. A method, not a bound field: an idle stream keeps only onResult and finish (on its pending promise). */
  private step(): void {
    let pending: Promise<IteratorResult<unknown>>;
    try {
      pending = (this.iterator as AsyncIterator<unknown>).next();
    } catch (err) {
      return this.finish(err);
    }
    pending.then(this.onResult, this.finish);
  }

  private readonly onResult = (result: IteratorResult<unknown>): void => {
    if (result.done === true) {
      try {
        copyHeaders(this.trailer as Headers, this.ctx.responseTrailer);
      } catch (err) {
        return this.finish(err);
      }
      return this.finish(undefined);
    }
    // The Subscribe handlers yield nothing here (they pipe their events); anything yielded is
    // written one message at a time with backpressure, like Connect would.
    let written: Promise<void>;
    try {
      if (!this.res.headersSent) this.transport.writeHead(this.ctx.responseHeader);
      written = writeMessage(this.res, frameOf(this.method.output, result.value as MessageShape<DescMessage>, this.wire.codec, this.options.writeMaxBytes));
    } catch (err) {
      return this.closeAndFinish(err);
    }
    written.then(
      () => this.step(),
      (err: unknown) => this.closeAndFinish(err),
    );
  };

  private closeAndFinish(err: unknown): void {
    let closed: unknown;
    try {
      closed = this.iterator?.return?.();
    } catch {
      // the write's error wins
    }
    const finishNow = () => this.finish(err);
    Promise.resolve(closed).then(finishNow, finishNow);
  }

  readonly finish = (failure: unknown): void => {
    let ended: Promise<void> | undefined;
    try {
      ended = this.endStream(failure);
    } catch (err) {
      return this.transport.failed(err);
    }
    ended?.catch((reason: unknown) => this.transport.failed(reason));
  };

  /** Ends the stream: the status in the trailers (gRPC), the trailer frame (gRPC-Web) or the end-stream message (Connect). */
  private endStream(failure: unknown): Promise<void> | undefined {
    this.controller.end(failure);
    if (this.res.destroyed || this.res.writableEnded) return undefined;
    const error = failure === undefined ? undefined : failure instanceof ConnectError ? failure : new ConnectError("internal error", Code.Internal, undefined, undefined, failure);
    if (!this.res.headersSent) this.transport.writeHead(this.ctx.responseHeader);
    switch (this.wire.protocol) {
      case "grpc": {
        if (error !== undefined) setTrailerStatus(this.ctx.responseTrailer, error);
        const trailers: Record<string, string> = {};
        this.ctx.responseTrailer.forEach((value, key) => (trailers[key] = value));
        this.res.addTrailers(trailers);
        return end(this.res);
      }
      case "grpc-web":
        if (error !== undefined) setTrailerStatus(this.ctx.responseTrailer, error);
        return end(this.res, envelope(createTrailerSerialization().serialize(this.ctx.responseTrailer), trailerFlag));
      case "connect": {
        const endStream = createEndStreamSerialization(this.options.jsonOptions).serialize({ metadata: this.ctx.responseTrailer, ...(error === undefined ? {} : { error }) });
        return end(this.res, envelope(endStream, endStreamFlag));
      }
    }
  }
}

async function invokeHandler(entry: EventStreamMethod, ctx: HandlerContext, req: StreamRequest): Promise<StreamResponse> {
  const { method } = entry;
  const input = await onlyMessage(req.message);
  // Our own request carries the context's signal by construction (asking would create it); a
  // request an interceptor copied by spreading has none of its own.
  const signal = req instanceof StreamCallRequest ? undefined : (req.signal as AbortSignal | undefined);
  const handlerContext: HandlerContext =
    req.service === ctx.service && req.header === ctx.requestHeader && (signal === undefined || signal === ctx.signal) && req.contextValues === ctx.values
      ? ctx
      : {
          service: req.service,
          method: ctx.method,
          protocolName: ctx.protocolName,
          requestMethod: ctx.requestMethod,
          url: ctx.url,
          timeoutMs: ctx.timeoutMs,
          requestHeader: req.header,
          responseHeader: ctx.responseHeader,
          responseTrailer: ctx.responseTrailer,
          values: req.contextValues,
          signal: signal ?? ctx.signal,
        };
  const output = entry.impl(input as never, handlerContext);
  return { stream: true, service: method.parent, method, header: ctx.responseHeader, trailer: ctx.responseTrailer, message: output } as StreamResponse;
}

function noTimeout(): undefined {
  return undefined;
}

/** Why a stream's signal aborts when its client goes away (fixed: no DOMException per call). */
const CLIENT_GONE = new ConnectError("the client went away", Code.Canceled);

/**
 * The call's signal, made only when something asks for it: a piped Subscribe stream never does,
 * and an AbortSignal with its event maps costs an idle stream about 700 bytes. Aborted when the
 * response closes before the call ended (the client went away), or by `end` when the call is
 * over; a signal asked for afterwards comes already aborted, with the same reason.
 */
class CallSignal {
  private controller: AbortController | undefined;
  private aborted = false;
  private reason: unknown;

  constructor(private readonly res: CallResponse) {
    // on(), not once(): once() wraps the listener in one more function and state per stream;
    // end() takes it off, and abort() does nothing twice.
    if (res.destroyed) this.abort(CLIENT_GONE);
    else res.on("close", this.onClose);
  }

  get signal(): AbortSignal {
    let controller = this.controller;
    if (controller === undefined) {
      controller = this.controller = new AbortController();
      if (this.aborted) controller.abort(this.reason);
    }
    return controller.signal;
  }

  private readonly onClose = (): void => this.abort(CLIENT_GONE);

  end(reason: unknown): void {
    this.res.off("close", this.onClose);
    this.abort(reason);
  }

  private abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/**
 * The handler context, as createHandlerContext builds it for a call without a deadline, minus
 * what such a call never uses (a deadline signal, a second linked controller), with the signal
 * made on demand (CallSignal). A class whose fields are its own and whose signal is a getter on
 * the prototype (shared, not a function per call); a copy made by spreading has no signal.
 */
class StreamHandlerContext implements HandlerContext {
  readonly service: DescService;
  readonly requestMethod = "POST";
  readonly timeoutMs = noTimeout;

  constructor(
    readonly method: DescMethodServerStreaming,
    readonly protocolName: string,
    readonly url: string,
    private readonly callSignal: CallSignal,
    readonly requestHeader: Headers,
    readonly responseHeader: Headers,
    readonly responseTrailer: Headers,
    readonly values: ContextValues,
  ) {
    this.service = method.parent;
  }

  get signal(): AbortSignal {
    return this.callSignal.signal;
  }
}

/**
 * The request the interceptors see: the context's fields as its own, the signal a getter on the
 * prototype (so asked for only when read), and the context itself under callContext.
 */
class StreamCallRequest {
  readonly stream = true;
  readonly service: DescService;
  readonly method: DescMethodServerStreaming;
  readonly requestMethod = "POST";
  readonly url: string;
  readonly header: Headers;
  readonly contextValues: ContextValues;
  readonly [callContext]: StreamHandlerContext;

  constructor(
    ctx: StreamHandlerContext,
    readonly message: AsyncIterable<unknown>,
  ) {
    this.service = ctx.service;
    this.method = ctx.method;
    this.url = ctx.url;
    this.header = ctx.requestHeader;
    this.contextValues = ctx.values;
    this[callContext] = ctx;
  }

  get signal(): AbortSignal {
    return this[callContext].signal;
  }
}

/**
 * The request message, parsed as Connect parses it (same errors) when the handler asks for it;
 * an iterator of one message that lets go of the bytes once read.
 */
class RequestMessage implements AsyncIterableIterator<unknown> {
  constructor(
    private bytes: Uint8Array | undefined,
    private readonly schema: DescMessage,
    private readonly codec: Codec,
    private readonly jsonOptions: Partial<JsonReadOptions> | undefined,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    const bytes = this.bytes;
    if (bytes === undefined) return Promise.resolve({ done: true, value: undefined });
    this.bytes = undefined;
    try {
      return Promise.resolve({ done: false, value: parseMessage(this.schema, bytes, this.codec, this.jsonOptions) });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  return(): Promise<IteratorResult<unknown>> {
    this.bytes = undefined;
    return Promise.resolve({ done: true, value: undefined });
  }
}

async function onlyMessage(messages: AsyncIterable<unknown>): Promise<unknown> {
  for await (const m of messages) return m;
  throw new ConnectError("protocol error: missing input message for server-streaming method", Code.Unimplemented);
}

function writeMessage(res: CallResponse, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.destroyed || res.writableEnded) return reject(new ConnectError("the stream was closed", Code.Canceled));
    if (res.write(chunk)) return resolve();
    const onDrain = () => {
      res.off("close", onClose);
      resolve();
    };
    const onClose = () => {
      res.off("drain", onDrain);
      reject(new ConnectError("the stream was closed", Code.Canceled));
    };
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

function end(res: CallResponse, chunk?: Uint8Array): Promise<void> {
  return new Promise<void>((resolve) => {
    res.once("finish", resolve);
    res.once("close", resolve);
    if (chunk === undefined) res.end();
    else res.end(chunk);
  });
}
