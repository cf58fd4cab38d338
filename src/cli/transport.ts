/**
 * The Connect transport of the CLI: gRPC over HTTP/2 by default, Connect JSON or gRPC-Web over
 * HTTP/1.1 on request, with the bearer token in an interceptor. Only public API: the transports of
 * @connectrpc/connect-node and the generated service descriptors.
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type { Protocol } from "./args.js";

export interface TransportOptions {
  readonly baseUrl: string;
  readonly protocol: Protocol;
  readonly token: string | undefined;
}

export function bearerToken(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

export function createCliTransport({ baseUrl, protocol, token }: TransportOptions): Transport {
  const interceptors = token === undefined ? [] : [bearerToken(token)];
  switch (protocol) {
    case "grpc":
      return createGrpcTransport({ baseUrl, interceptors });
    // Connect JSON over HTTP/1.1: the path curl and proxies without HTTP/2 take, readable on the wire.
    case "connect":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors });
  }
}
