/**
 * Reading a Node request for the fast paths without Connect's universal request: the body up to
 * a limit, the headers as web Headers, the URL. (universalRequestFromNodeRequest builds all of
 * that plus an abort controller and listeners for every call; the fast paths need less.)
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { Readable } from "node:stream";
import type { HeaderValue } from "./fast-path.js";
import { CompactHeaders } from "./compact-headers.js";

export type ServerRequest = http.IncomingMessage | http2.Http2ServerRequest;

/** What a fast path reads of a request: the body, the headers, the URL handlers are told. */
export interface IncomingCall {
  /** The request (HTTP/1.1, or HTTP/2 through Node's compatibility layer) or the HTTP/2 stream itself. */
  readonly body: Readable;
  readonly headers: Record<string, HeaderValue>;
  readonly url: string;
}

/** A request through Node's compatibility layer (or HTTP/1.1) as a fast path reads it. */
export function incomingRequest(req: ServerRequest): IncomingCall {
  return { body: req, headers: req.headers, url: requestUrl(req) };
}

/** An HTTP/2 stream taken before Node's compatibility layer, as a fast path reads it. */
export function incomingStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): IncomingCall {
  const secure = (stream.session?.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  return { body: stream, headers, url: `${secure ? "https" : "http"}://${headers[":authority"] ?? "localhost"}${headers[":path"] ?? ""}` };
}

/** A request body: all of it, or (past the limit) everything as a stream for Connect to read. */
export type RequestBody = { readonly complete: Uint8Array } | { readonly rest: AsyncIterable<Uint8Array> };

/**
 * Reads the body up to `limit` bytes. Past the limit it stops reading and hands back what was
 * read followed by the rest; undefined when the client went away first.
 */
export function readRequestBody(req: Readable, limit: number): Promise<RequestBody | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("aborted", onGone);
      req.off("close", onGone);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total <= limit) return;
      cleanup();
      req.pause();
      resolve({ rest: readOn(chunks, req) });
    };
    const onEnd = () => {
      cleanup();
      resolve({ complete: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) });
    };
    const onGone = () => {
      cleanup();
      resolve(undefined);
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onGone);
    req.once("aborted", onGone);
    req.once("close", onGone);
  });
}

async function* readOn(read: readonly Buffer[], req: Readable): AsyncIterable<Uint8Array> {
  yield* read;
  for await (const chunk of req as AsyncIterable<Buffer>) yield chunk;
}

/** A body already read, as the stream Connect reads. */
export async function* bodyStream(body: RequestBody): AsyncIterable<Uint8Array> {
  if ("complete" in body) yield body.complete;
  else yield* body.rest;
}

/** The request headers as web Headers (HTTP/2 pseudo-headers left out, as Connect does), compact (compact-headers.ts). */
export function requestHeaders(raw: Record<string, HeaderValue>): Headers {
  return CompactHeaders.fromNode(raw);
}

/** The request URL as Connect reports it to handlers. */
export function requestUrl(req: ServerRequest): string {
  const authority = "authority" in req ? req.authority : req.headers.host;
  const secure = "encrypted" in req.socket && (req.socket as { encrypted?: boolean }).encrypted === true;
  return `${secure ? "https" : "http"}://${authority ?? "localhost"}${req.url ?? ""}`;
}
