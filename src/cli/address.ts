/**
 * Where the gateway is: `--address` wins, then VIRTUFIN_API_HOST and VIRTUFIN_API_GRPC_PORT (the
 * variables every Virtufin service reads, per the cross-cutting spec), then localhost:5002.
 */
import { UsageError } from "./errors.js";

export const DEFAULT_HOST = "localhost";
export const DEFAULT_PORT = 5002;

export interface AddressEnv {
  readonly VIRTUFIN_API_HOST?: string | undefined;
  readonly VIRTUFIN_API_GRPC_PORT?: string | undefined;
}

/**
 * The base URL of the gateway. `address` may be `host:port`, `host` (port 5002), `[::1]:port`, or
 * a URL `http://host:port` / `https://host:port` (TLS). VIRTUFIN_API_HOST may be a host or such a URL.
 */
export function resolveBaseUrl(address: string | undefined, env: AddressEnv): string {
  if (address !== undefined) return toBaseUrl(address, { bareHostPort: String(DEFAULT_PORT) }, "--address");
  const host = nonEmpty(env.VIRTUFIN_API_HOST) ?? DEFAULT_HOST;
  const port = nonEmpty(env.VIRTUFIN_API_GRPC_PORT) ?? String(DEFAULT_PORT);
  parsePort(port, "VIRTUFIN_API_GRPC_PORT");
  return toBaseUrl(host, { bareHostPort: port, urlPort: port }, "VIRTUFIN_API_HOST");
}

/**
 * bareHostPort: the port of an address written without one; urlPort: the same for a URL without
 * one (absent: the scheme's own port, as for any URL).
 */
function toBaseUrl(address: string, ports: { bareHostPort: string; urlPort?: string }, source: string): string {
  const text = address.trim();
  if (text === "") throw new UsageError(`${source}: empty address`);
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  // Read the port from the text: URL drops a scheme's default port (":80"), and we must tell
  // "no port given" from that.
  const portText = /:(\d*)$/.exec(hostAndPort(text, hasScheme))?.[1];
  if (portText !== undefined) parsePort(portText, source);
  let url: URL;
  try {
    url = new URL(hasScheme ? text : `http://${text}`);
  } catch {
    throw new UsageError(`${source}: "${address}" is not host:port or an http(s) URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`${source}: "${address}" must be http:// or https://`);
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new UsageError(`${source}: "${address}" must hold only a scheme, host and port`);
  }
  if (portText === undefined) {
    const port = hasScheme ? ports.urlPort : ports.bareHostPort;
    if (port !== undefined) url.port = port;
  }
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.protocol}//${url.host}${path}`;
}

/** The authority part of what the user wrote (without scheme or path), to read its port. */
function hostAndPort(text: string, hasScheme: boolean): string {
  const rest = hasScheme ? text.slice(text.indexOf("//") + 2) : text;
  const slash = rest.indexOf("/");
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  // An IPv6 literal without brackets has colons that are not a port.
  return authority.startsWith("[") || authority.split(":").length <= 2 ? authority : "";
}

function parsePort(text: string, source: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new UsageError(`${source}: port "${text}" is not a number from 1 to 65535`);
  return port;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
