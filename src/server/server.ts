/**
 * One cleartext port for every protocol. Each connection is sniffed: one that opens with the
 * HTTP/2 client preface ("PRI * HTTP/2.0") goes to the HTTP/2 server (gRPC with prior knowledge,
 * and gRPC-Web/Connect over h2c); anything else to the HTTP/1.1 server (gRPC-Web, Connect, curl,
 * browsers). Node's cleartext HTTP/2 server cannot fall back to HTTP/1.1 by itself.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Logger } from "../observability/logger.js";
import { corsHeaders } from "./cors.js";
import type { NodeRequest, NodeResponse } from "./rpc-adapter.js";

export interface ServerLimits {
  readonly http2MaxConcurrentStreams: number;
  readonly maxHeaderBytes: number;
}

export interface GatewayServerOptions {
  readonly limits: ServerLimits;
  readonly corsOrigins: readonly string[];
  /** Answers RPCs; returns false when the path is not an RPC. */
  readonly handleRpc: (req: NodeRequest, res: NodeResponse) => boolean;
  /**
   * Takes an HTTP/2 stream before Node's compatibility layer makes a request and response of it;
   * returns false to leave it to `handleRpc` and `handleHttp` as usual.
   */
  readonly handleHttp2Stream?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: string[]) => boolean;
  /** Plain HTTP endpoints (health probes, ...); returns false when the path is not one. */
  readonly handleHttp?: (req: NodeRequest, res: NodeResponse) => boolean;
  readonly logger: Logger;
}

export interface GatewayServer {
  listen(port: number, host: string): Promise<net.AddressInfo>;
  /** Stops accepting connections; gives open ones `graceMs`, then destroys them. */
  close(graceMs: number): Promise<void>;
  readonly openConnections: number;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0");

export function createGatewayServer(options: GatewayServerOptions): GatewayServer {
  const { limits, logger } = options;
  const onRequest = (req: NodeRequest, res: NodeResponse) => {
    const cors = corsHeaders(
      options.corsOrigins,
      req.method ?? "",
      header(req, "origin"),
      header(req, "access-control-request-method") !== undefined,
    );
    for (const [k, v] of Object.entries(cors.headers)) res.setHeader(k, v);
    if (cors.preflight) {
      res.writeHead(204);
      res.end();
      return;
    }
    if (options.handleRpc(req, res)) return;
    if (options.handleHttp?.(req, res)) return;
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  };

  const h1 = http.createServer({ maxHeaderSize: limits.maxHeaderBytes }, onRequest);
  const h2 = http2.createServer(
    {
      settings: {
        maxConcurrentStreams: limits.http2MaxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderBytes,
      },
      maxSessionMemory: 64,
    },
    onRequest,
  );
  h2.on("sessionError", (err) => logger.debug({ err }, "http/2 session error"));
  const takeStream = options.handleHttp2Stream;
  if (takeStream !== undefined) {
    // Passing onRequest installed Node's compatibility listener on 'stream' (it builds the
    // request and response, then emits 'request'); streams we take never reach it.
    const compat = h2.listeners("stream");
    if (compat.length !== 1) throw new Error(`expected Node's one HTTP/2 compatibility listener, found ${compat.length}`);
    const toCompat = compat[0] as (...args: unknown[]) => void;
    h2.removeAllListeners("stream");
    h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
      if (!takeStream(stream, headers, rawHeaders)) toCompat.call(h2, stream, headers, flags, rawHeaders);
    });
  }
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  h1.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    logger.debug({ err }, "http/1.1 client error");
    const status = err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\n\r\n`);
    else socket.destroy();
  });

  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    sniff(socket, (isHttp2) => (isHttp2 ? h2 : h1).emit("connection", socket));
  });

  return {
    get openConnections() {
      return sockets.size;
    },
    listen(port, host) {
      return new Promise((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, host, () => {
          tcp.off("error", reject);
          resolve(tcp.address() as net.AddressInfo);
        });
      });
    },
    async close(graceMs) {
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      h1.closeIdleConnections();
      h2.close();
      // GOAWAY to every HTTP/2 client: no new streams; open ones may finish within the grace period.
      for (const session of sessions) session.close();
      const idleSweep = setInterval(() => h1.closeIdleConnections(), 50);
      idleSweep.unref();
      // These timers stay referenced: close() must settle even when nothing else is running.
      const deadline = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      const drained = new Promise<void>((resolve) => {
        const check = () => (sockets.size === 0 ? resolve() : setTimeout(check, 20));
        check();
      });
      await Promise.all([closed, drained]);
      clearTimeout(deadline);
      clearInterval(idleSweep);
    },
  };
}

/** Reads just enough of the first bytes to tell an HTTP/2 preface from HTTP/1.1, then hands the socket on. */
function sniff(socket: net.Socket, route: (isHttp2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const isHttp2Prefix = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isHttp2Prefix && seen.length < H2_PREFACE.length) return; // need more bytes to decide
    socket.off("data", onData);
    socket.pause();
    socket.unshift(seen);
    route(isHttp2Prefix);
    // The HTTP servers read from the socket themselves; make sure it flows again.
    process.nextTick(() => socket.resume());
  };
  socket.on("data", onData);
}

function header(req: NodeRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
