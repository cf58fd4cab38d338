/**
 * Bridges Node's HTTP/1.1 and HTTP/2 requests to Connect's universal handlers (gRPC, gRPC-Web,
 * Connect). Our own bridge rather than connectNodeAdapter because a subscriber must learn that it
 * is subscribed before the first event: connect-node sends response headers only with the first
 * message, so streaming handlers get a StreamControl to send them early, to reset a stream
 * whose reader never drains, and to write their events straight to the response. The Subscribe
 * methods given as `eventStreams` skip Connect's universal handler altogether for the common
 * request shape (see event-stream-call.ts); everything else goes through Connect.
 */
import type * as http from "node:http";
import * as http2 from "node:http2";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type ContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest } from "@connectrpc/connect-node";
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { Logger } from "../observability/logger.js";
import { CallValues } from "./call-values.js";
import { fastStreamWire, serveEventStream, type CallResponse, type EventStreamMethod, type EventStreamTransport, type StreamWire } from "./event-stream-call.js";
import type { FastCallOptions } from "./fast-path.js";
import { pipeFeed } from "./event-stream-writer.js";
import { responseCodec, type Codec } from "./framing.js";
import { bodyStream, incomingRequest, incomingStream, type RequestBody } from "./node-request.js";
import { streamControlKey, type MessageFeed, type StreamControl } from "./stream-control.js";
import { fastUnaryWire, serveUnary, type UnaryMethod } from "./unary-call.js";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface RpcRequestHandlerOptions extends Partial<FastCallOptions> {
  /** Server-streaming methods served on the fast path; their router handlers remain the fallback. */
  readonly eventStreams?: readonly EventStreamMethod[];
  /** Unary methods served on the fast path (unary-call.ts); their router handlers remain the fallback. */
  readonly unaryMethods?: readonly UnaryMethod[];
  /** The longest deadline a client may ask for (Connect's maxTimeoutMs); 0 for no limit. */
  readonly maxTimeoutMs?: number;
}

/**
 * Answers RPCs: returns false when no RPC lives at the request's path. `http2Stream` takes an
 * HTTP/2 stream before Node's compatibility layer wraps it, for the calls it serves that way.
 */
export interface RpcRequestHandler {
  (req: NodeRequest, res: NodeResponse): boolean;
  /**
   * Serves a Subscribe call on the fast path straight on its HTTP/2 stream, without the
   * compatibility layer's request and response objects (about a fifth of an idle stream's
   * memory); returns false, having touched nothing, for any other stream.
   */
  readonly http2Stream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: string[]) => boolean;
}

export function createRpcRequestHandler(router: ConnectRouter, logger: Logger, options: RpcRequestHandlerOptions = {}): RpcRequestHandler {
  const paths = new Map<string, UniversalHandler>();
  for (const h of router.handlers) paths.set(h.requestPath, h);
  const fastPaths = new Map<string, EventStreamMethod>();
  for (const entry of options.eventStreams ?? []) fastPaths.set(`/${entry.method.parent.typeName}/${entry.method.name}`, entry);
  const unaryPaths = new Map<string, UnaryMethod>();
  for (const entry of options.unaryMethods ?? []) unaryPaths.set(`/${entry.method.parent.typeName}/${entry.method.name}`, entry);
  const callOptions: FastCallOptions = {
    interceptors: options.interceptors ?? [],
    readMaxBytes: options.readMaxBytes ?? 0xffffffff,
    writeMaxBytes: options.writeMaxBytes,
    jsonOptions: options.jsonOptions,
  };
  // Connect treats a maxTimeoutMs of 0 as no limit.
  const maxTimeoutMs = options.maxTimeoutMs === undefined || options.maxTimeoutMs <= 0 ? Number.MAX_SAFE_INTEGER : options.maxTimeoutMs;

  /** Returns false when no RPC lives at the request's path. */
  function handleRpc(req: NodeRequest, res: NodeResponse): boolean {
    const path = pathOf(req.url);
    const handler = paths.get(path);
    if (handler === undefined) return false;
    const call = new RpcCall(req, res, handler, logger, options.writeMaxBytes);
    const contextValues = call.values;
    const unary = unaryPaths.get(path);
    const unaryWire = unary === undefined ? undefined : fastUnaryWire(req.method, req.httpVersionMajor, req.headers, maxTimeoutMs);
    if (unary !== undefined && unaryWire !== undefined) {
      serveUnary(unary, unaryWire, req, res, contextValues, callOptions, (body) => call.viaConnect(body)).catch((reason: unknown) => call.failed(reason));
      return true;
    }
    const fast = fastPaths.get(path);
    const wire = fast === undefined ? undefined : fastStreamWire(req.method, req.httpVersionMajor, req.headers);
    if (fast !== undefined && wire !== undefined) {
      serveEventStream(fast, wire, incomingRequest(req), res, call, callOptions, contextValues).catch((reason: unknown) => call.failed(reason));
    } else {
      call.viaConnect();
    }
    return true;
  }

  function http2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: string[]): boolean {
    const route = bareStreamRoute(headers, fastPaths);
    const handler = route === undefined ? undefined : paths.get(route.path);
    if (route === undefined || handler === undefined) return false;
    const { entry, wire } = route;
    const call = new Http2StreamCall(stream, headers, rawHeaders, wire.protocol === "grpc", handler, logger, options.writeMaxBytes);
    serveEventStream(entry, wire, incomingStream(stream, headers), call, call, callOptions, call.values).catch((reason: unknown) => call.failed(reason));
    return true;
  }

  return Object.assign(handleRpc, { http2Stream });
}

/**
 * One RPC's link to its Node request and response: the StreamControl its handler gets and the
 * transport of the fast path. Methods, not closures, so an idle stream holds one small object.
 */
class RpcCall implements StreamControl, EventStreamTransport {
  /** The call's context values; handlers find this StreamControl in them. */
  readonly values: ContextValues = new CallValues().set(streamControlKey, this);

  constructor(
    private readonly req: NodeRequest,
    private readonly res: NodeResponse,
    private readonly handler: UniversalHandler,
    private readonly logger: Logger,
    private readonly writeMaxBytes: number | undefined,
  ) {}

  sendHeaders(header: Headers): void {
    if (!this.res.headersSent) writeHead(this.res, 200, header);
  }

  writeHead(header: Headers): void {
    this.sendHeaders(header);
  }

  reset(): void {
    const req = this.req;
    if ("stream" in req) req.stream.close(http2.constants.NGHTTP2_CANCEL);
    else req.socket.destroy();
  }

  pipe<Desc extends DescMessage>(schema: Desc, responseHeader: Headers, feed: MessageFeed<MessageShape<Desc>>): Promise<void> | undefined {
    const codec = pipeCodec(responseHeader);
    if (codec === undefined) return undefined;
    if (!this.res.headersSent) writeHead(this.res, 200, responseHeader);
    return pipeFeed(this.res, feed, { schema, codec, writeMaxBytes: this.writeMaxBytes });
  }

  /** Hands the call to Connect's universal handler; `body` when a fast path already read it. */
  viaConnect(body?: RequestBody): void {
    const handler = this.handler;
    const uReq = universalRequestFromNodeRequest(this.req as http.IncomingMessage, this.res as http.ServerResponse, undefined, this.values);
    handler(body === undefined ? uReq : { ...uReq, body: bodyStream(body) })
      .then((uRes: UniversalServerResponse) => writeResponse(uRes, this.res))
      .catch((reason: unknown) => this.failed(reason));
  }

  failed(reason: unknown): void {
    logUnfinished(this.logger, this.handler, reason);
    if (!this.res.writableEnded) this.reset();
  }
}

/**
 * Whether an HTTP/2 stream is served bare, before Node's compatibility layer (pure): a fast-path
 * method in the shape fastStreamWire accepts, from a caller that sent no Origin (a browser's
 * request gets its CORS headers on the compatibility path). Undefined leaves it to that path.
 */
export function bareStreamRoute<T>(
  headers: http2.IncomingHttpHeaders,
  fastPaths: ReadonlyMap<string, T>,
): { readonly path: string; readonly entry: T; readonly wire: StreamWire } | undefined {
  if (headers.origin !== undefined) return undefined;
  const path = pathOf(headers[":path"]);
  const entry = fastPaths.get(path);
  if (entry === undefined) return undefined;
  const wire = fastStreamWire(headers[":method"], 2, headers);
  return wire === undefined ? undefined : { path, entry, wire };
}

/**
 * A Subscribe call on its bare HTTP/2 stream: the StreamControl its handler gets, the transport
 * and the response of the fast path, in one object. Response headers go out with respond();
 * gRPC trailers wait for 'wantTrailers'. A body that does not suit the fast path is handed to
 * Connect through the compatibility layer's objects, made only then.
 */
class Http2StreamCall implements StreamControl, EventStreamTransport, CallResponse {
  readonly values: ContextValues = new CallValues().set(streamControlKey, this);
  private trailers: Record<string, string> | undefined;

  /** The request as it came, for a hand-over to Connect; dropped once the call stays on the fast path. */
  private request: { readonly headers: http2.IncomingHttpHeaders; readonly rawHeaders: string[] } | undefined;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders: string[],
    /** gRPC ends with trailers; gRPC-Web and Connect end inside the body. */
    private readonly hasTrailers: boolean,
    private readonly handler: UniversalHandler,
    private readonly logger: Logger,
    private readonly writeMaxBytes: number | undefined,
  ) {
    this.request = { headers, rawHeaders };
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  get writableEnded(): boolean {
    return this.stream.writableEnded;
  }

  write(chunk: Uint8Array): boolean {
    return this.stream.write(chunk);
  }

  addTrailers(trailers: Record<string, string>): void {
    this.trailers = { ...this.trailers, ...trailers };
  }

  end(chunk?: Uint8Array): void {
    const stream = this.stream;
    // Listening only now, not from respond(): one listener fewer on every idle stream.
    if (this.hasTrailers && stream.headersSent) stream.once("wantTrailers", () => stream.sendTrailers(this.trailers ?? {}));
    if (chunk === undefined) stream.end();
    else stream.end(chunk);
  }

  on(event: "close", listener: () => void): this {
    this.stream.on(event, listener);
    return this;
  }

  once(event: "drain" | "close" | "finish", listener: () => void): this {
    this.stream.once(event, listener);
    return this;
  }

  off(event: "drain" | "close" | "finish", listener: () => void): this {
    this.stream.off(event, listener);
    return this;
  }

  sendHeaders(header: Headers): void {
    const stream = this.stream;
    if (stream.headersSent || stream.destroyed) return;
    const headers: http2.OutgoingHttpHeaders = { ":status": 200 };
    header.forEach((value, key) => (headers[key] = value));
    if (!this.hasTrailers) {
      stream.respond(headers);
      return;
    }
    stream.respond(headers, { waitForTrailers: true }); // the trailers go out in end()
  }

  writeHead(header: Headers): void {
    this.sendHeaders(header);
  }

  reset(): void {
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  pipe<Desc extends DescMessage>(schema: Desc, responseHeader: Headers, feed: MessageFeed<MessageShape<Desc>>): Promise<void> | undefined {
    const codec = pipeCodec(responseHeader);
    if (codec === undefined) return undefined;
    this.sendHeaders(responseHeader);
    return pipeFeed(this.stream, feed, { schema, codec, writeMaxBytes: this.writeMaxBytes });
  }

  committed(): void {
    this.request = undefined;
  }

  viaConnect(body?: RequestBody): void {
    const request = this.request;
    if (request === undefined) throw new Error("viaConnect after the call was committed to the fast path");
    const req = new http2.Http2ServerRequest(this.stream, request.headers, {}, request.rawHeaders);
    const res = new http2.Http2ServerResponse(this.stream);
    new RpcCall(req, res, this.handler, this.logger, this.writeMaxBytes).viaConnect(body);
  }

  failed(reason: unknown): void {
    logUnfinished(this.logger, this.handler, reason);
    if (!this.stream.writableEnded) this.reset();
  }
}

/** The request path without its query string. */
function pathOf(url: string | undefined): string {
  const u = url ?? "";
  const query = u.indexOf("?");
  return query < 0 ? u : u.slice(0, query);
}

/** The codec the fast path writes a stream's messages in, or undefined to leave them to Connect. */
function pipeCodec(responseHeader: Headers): Codec | undefined {
  // Connect frames compressed responses itself; the fast path writes only identity frames.
  return isCompressed(responseHeader) ? undefined : responseCodec(responseHeader.get("content-type"));
}

/** A call whose response could not be written to its end: worth a debug line unless the client left. */
function logUnfinished(logger: Logger, handler: UniversalHandler, reason: unknown): void {
  const code = ConnectError.from(reason).code;
  if (code !== Code.Aborted && code !== Code.Canceled) logger.debug({ err: reason, method: handler.method.name }, "response not fully written");
}

function isCompressed(header: Headers): boolean {
  for (const name of ["grpc-encoding", "connect-content-encoding"]) {
    const value = header.get(name);
    if (value !== null && value !== "identity") return true;
  }
  return false;
}

function writeHead(res: NodeResponse, status: number, header: ConstructorParameters<typeof Headers>[0]): void {
  const headers: Record<string, string> = {};
  new Headers(header).forEach((value, key) => {
    headers[key] = value;
  });
  res.writeHead(status, headers);
  // HTTP/2 sends HEADERS on writeHead; HTTP/1.1 holds them until the first write unless flushed.
  if (!("stream" in res)) res.flushHeaders();
}

async function writeResponse(uRes: UniversalServerResponse, res: NodeResponse): Promise<void> {
  const it = uRes.body?.[Symbol.asyncIterator]();
  try {
    if (it !== undefined) {
      for (let chunk = await it.next(); chunk.done !== true; chunk = await it.next()) {
        if (!res.headersSent) writeHead(res, uRes.status, uRes.header);
        await write(res, chunk.value);
      }
    }
    if (!res.headersSent) writeHead(res, uRes.status, uRes.header);
    if (uRes.trailer !== undefined) {
      const trailers: Record<string, string> = {};
      uRes.trailer.forEach((value, key) => {
        trailers[key] = value;
      });
      res.addTrailers(trailers);
    }
    await new Promise<void>((resolve) => {
      res.once("finish", resolve);
      res.once("close", resolve);
      res.end();
    });
  } finally {
    void it?.return?.().catch(() => {});
  }
}

/** Writes one chunk, waiting for 'drain' when the stream asks for it (backpressure). */
function write(res: NodeResponse, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.destroyed || res.writableEnded) {
      reject(new ConnectError("the stream was closed", Code.Canceled));
      return;
    }
    const onClose = () => {
      cleanup();
      reject(new ConnectError("the stream was closed", Code.Canceled));
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      res.off("close", onClose);
      res.off("drain", onDrain);
    };
    const flushed = (res as http.ServerResponse).write(chunk);
    if (flushed) {
      resolve();
      return;
    }
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}
