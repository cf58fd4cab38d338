/**
 * The unary fast path: the hot unary methods (state reads and writes, PublishEvent) served
 * without Connect's universal handler, for the common request shape only — POST, an
 * identity-encoded body within the read limit (one envelope for gRPC and gRPC-Web, the bare
 * message for Connect unary), binary or JSON, with or without a valid deadline. Anything else
 * (compression, a Connect GET, an oversized or malformed body, an invalid deadline) is handed to
 * Connect unchanged with the bytes already read, so its answers stay Connect's own.
 *
 * Why: Connect runs every unary call through the same pipeline of async iterators as a stream,
 * plus a web Request translation and two linked abort controllers; that was most of the
 * gateway's CPU per unary call. Here a call is: read the body, parse, run the router's
 * interceptors (tracing, rpc log and metrics, error boundary, in-flight, auth) around the
 * implementation, serialise, write. The wire format of answers and errors is Connect's: gRPC
 * trailers and the gRPC-Web trailer frame with setTrailerStatus, Connect errors as JSON with the
 * HTTP status of their code and trailers as `trailer-` headers.
 */
import { create, type DescMessage, type DescMethodUnary, type JsonReadOptions } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes, parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { createTrailerSerialization, trailerFlag } from "@connectrpc/connect/protocol-grpc-web";
import { copyHeaders, grpcWire, initialResponseHeader, initialResponseTrailer, parseMessage, single, singleEnvelope, withInterceptors, type FastCallOptions, type HeaderValue, type Wire } from "./fast-path.js";
import { ENVELOPE_HEADER_BYTES, envelope, serialize } from "./framing.js";
import { readRequestBody, requestHeaders, requestUrl, type RequestBody, type ServerRequest } from "./node-request.js";

export interface UnaryWire extends Wire {
  /** The client's deadline, when it sent a valid one. */
  readonly timeoutMs: number | undefined;
}

/**
 * Whether the fast path serves a unary request, from its method, HTTP version and headers
 * (pure): the wire it speaks, or undefined to leave the request to Connect.
 */
export function fastUnaryWire(method: string | undefined, httpVersionMajor: number, headers: Record<string, HeaderValue>, maxTimeoutMs: number): UnaryWire | undefined {
  if (method !== "POST") return undefined;
  for (const name of ["grpc-encoding", "content-encoding"]) {
    const encoding = single(headers[name]);
    if (encoding !== undefined && encoding !== "identity") return undefined;
  }
  const contentType = single(headers["content-type"])?.toLowerCase();
  const wire = wireOf(contentType, httpVersionMajor);
  if (wire === undefined) return undefined;
  const timeoutHeader = single(headers[wire.protocol === "connect" ? "connect-timeout-ms" : "grpc-timeout"]);
  if (timeoutHeader === undefined) return { ...wire, timeoutMs: undefined };
  const timeout = wire.protocol === "connect" ? parseConnectTimeout(timeoutHeader, maxTimeoutMs) : parseGrpcTimeout(timeoutHeader, maxTimeoutMs);
  // Connect answers an invalid or too long deadline with its own error.
  if (timeout.error !== undefined || timeout.timeoutMs === undefined) return undefined;
  return { ...wire, timeoutMs: timeout.timeoutMs };
}

function wireOf(contentType: string | undefined, httpVersionMajor: number): Wire | undefined {
  switch (contentType) {
    case "application/proto":
      return { protocol: "connect", codec: "proto", responseContentType: "application/proto" };
    case "application/json":
    case "application/json; charset=utf-8":
    case "application/json;charset=utf-8":
      return { protocol: "connect", codec: "json", responseContentType: "application/json" };
    default:
      return grpcWire(contentType, httpVersionMajor);
  }
}

/** A unary method served on the fast path, with its implementation as registered on the router. */
export interface UnaryMethod {
  readonly method: DescMethodUnary;
  readonly impl: (request: never, context: HandlerContext) => unknown;
}

/** What the call needs of the Node response. */
export interface UnaryResponseWriter {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  addTrailers(trailers: Record<string, string>): void;
  end(): unknown;
  end(chunk: Uint8Array): unknown;
  once(event: "close", listener: () => void): unknown;
  off(event: "close", listener: () => void): unknown;
}

/**
 * Serves one unary call. `viaConnect` takes over when the body does not suit the fast path; it
 * gets the body (what was read, then the rest).
 */
export async function serveUnary(
  entry: UnaryMethod,
  wire: UnaryWire,
  req: ServerRequest,
  res: UnaryResponseWriter,
  contextValues: ContextValues,
  options: FastCallOptions,
  viaConnect: (body: RequestBody) => void,
): Promise<void> {
  const framed = wire.protocol !== "connect";
  const body = await readRequestBody(req, options.readMaxBytes + (framed ? ENVELOPE_HEADER_BYTES : 0));
  if (body === undefined) return; // the client went away while sending
  const bytes = !("complete" in body) ? undefined : framed ? singleEnvelope(body.complete, options.readMaxBytes) : body.complete;
  if (bytes === undefined) {
    viaConnect(body);
    return;
  }
  const call = new UnaryCall(entry, wire, req, res, contextValues);
  let output: Uint8Array | undefined;
  let error: ConnectError | undefined;
  try {
    const input = parseMessage(entry.method.input, bytes, wire.codec, options.jsonOptions);
    const next = withInterceptors<UnaryRequest, UnaryResponse>(options.interceptors, (r) => call.invoke(r));
    const response = await next(call.request(input));
    copyHeaders(response.header, call.ctx.responseHeader);
    copyHeaders(response.trailer, call.ctx.responseTrailer);
    // A handler that ignored its deadline does not get to answer after it.
    if (call.ctx.signal.aborted && call.deadlinePassed) throw call.ctx.signal.reason;
    output = serialize(entry.method.output, response.message, wire.codec);
    if (options.writeMaxBytes !== undefined && output.byteLength > options.writeMaxBytes) {
      throw new ConnectError(`message size ${output.byteLength} is larger than configured writeMaxBytes ${options.writeMaxBytes}`, Code.ResourceExhausted);
    }
  } catch (err) {
    error = err instanceof ConnectError ? err : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
    output = undefined;
  } finally {
    call.end();
  }
  if (res.destroyed || res.writableEnded) return;
  writeAnswer(res, wire, call.ctx, output, error, options.jsonOptions);
}

const CALL_ENDED = new ConnectError("the call has ended", Code.Canceled);
const CLIENT_GONE = new ConnectError("the client went away", Code.Canceled);

/** One call's handler context and its signal: aborted when the client goes away or the deadline passes. */
class UnaryCall {
  readonly ctx: HandlerContext;
  deadlinePassed = false;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly entry: UnaryMethod,
    wire: UnaryWire,
    req: ServerRequest,
    private readonly res: UnaryResponseWriter,
    values: ContextValues,
  ) {
    const { method } = entry;
    const deadline = wire.timeoutMs === undefined ? undefined : Date.now() + wire.timeoutMs;
    this.ctx = {
      service: method.parent,
      method,
      protocolName: wire.protocol,
      requestMethod: "POST",
      url: requestUrl(req),
      signal: this.controller.signal,
      timeoutMs: deadline === undefined ? noTimeout : () => deadline - Date.now(),
      requestHeader: requestHeaders(req.headers),
      responseHeader: initialResponseHeader(wire),
      responseTrailer: initialResponseTrailer(wire),
      values,
    };
    if (wire.timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.expire(), wire.timeoutMs);
    }
    res.once("close", this.onClose);
  }

  request(message: unknown): UnaryRequest {
    const { ctx } = this;
    return {
      stream: false,
      service: ctx.service,
      method: this.entry.method,
      requestMethod: ctx.requestMethod,
      url: ctx.url,
      signal: ctx.signal,
      header: ctx.requestHeader,
      contextValues: ctx.values,
      message,
    } as UnaryRequest;
  }

  async invoke(req: UnaryRequest): Promise<UnaryResponse> {
    const { ctx, entry } = this;
    const handlerContext =
      req.service === ctx.service && req.header === ctx.requestHeader && req.signal === ctx.signal && req.contextValues === ctx.values
        ? ctx
        : { ...ctx, service: req.service, requestHeader: req.header, signal: req.signal, values: req.contextValues };
    const result = await entry.impl(req.message as never, handlerContext);
    const message = create(entry.method.output as DescMessage, result as never);
    return { stream: false, service: ctx.service, method: entry.method, header: ctx.responseHeader, trailer: ctx.responseTrailer, message } as UnaryResponse;
  }

  end(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.res.off("close", this.onClose);
    // A fixed reason: aborting without one would build a DOMException (and its stack) per call.
    if (!this.controller.signal.aborted) this.controller.abort(CALL_ENDED);
  }

  private expire(): void {
    this.deadlinePassed = true;
    if (!this.controller.signal.aborted) this.controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
  }

  private readonly onClose = (): void => {
    if (!this.controller.signal.aborted) this.controller.abort(CLIENT_GONE);
  };
}

function noTimeout(): undefined {
  return undefined;
}

function headerRecord(headers: Headers, into: Record<string, string> = {}): Record<string, string> {
  headers.forEach((value, key) => (into[key] = value));
  return into;
}

/** Writes the answer (or the error) as Connect would for the call's protocol. */
function writeAnswer(res: UnaryResponseWriter, wire: UnaryWire, ctx: HandlerContext, output: Uint8Array | undefined, error: ConnectError | undefined, jsonOptions: Partial<JsonReadOptions> | undefined): void {
  switch (wire.protocol) {
    case "grpc": {
      if (error !== undefined) setTrailerStatus(ctx.responseTrailer, error);
      res.writeHead(200, headerRecord(ctx.responseHeader));
      res.addTrailers(headerRecord(ctx.responseTrailer));
      if (output === undefined) res.end();
      else res.end(envelope(output));
      return;
    }
    case "grpc-web": {
      if (error !== undefined) setTrailerStatus(ctx.responseTrailer, error);
      const trailer = envelope(createTrailerSerialization().serialize(ctx.responseTrailer), trailerFlag);
      res.writeHead(200, headerRecord(ctx.responseHeader));
      res.end(output === undefined ? trailer : Buffer.concat([envelope(output), trailer]));
      return;
    }
    case "connect": {
      let status = 200;
      let body = output;
      if (error !== undefined) {
        status = codeToHttpStatus(error.code);
        ctx.responseHeader.set("content-type", "application/json");
        error.metadata.forEach((value, key) => ctx.responseHeader.set(key, value));
        body = errorToJsonBytes(error, jsonOptions ?? {});
      }
      const headers = headerRecord(ctx.responseHeader);
      ctx.responseTrailer.forEach((value, key) => (headers[`trailer-${key}`] = value));
      const bytes = body ?? new Uint8Array(0);
      headers["content-length"] = String(bytes.byteLength);
      res.writeHead(status, headers);
      res.end(bytes);
      return;
    }
  }
}
