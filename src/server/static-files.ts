/**
 * The browser dashboard's static files, served on the gateway's one port under a mount path
 * (`/dashboard/`). The set of files is read once, when the server starts, from a built folder
 * (dist/dashboard): a request can only ever name one of those files, so no request path reaches
 * the file system and there is nothing to traverse. Everything is small, so it is kept in memory,
 * gzipped once where that helps.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { gzipSync } from "node:zlib";
import type { NodeRequest, NodeResponse } from "./rpc-adapter.js";

/** Written by scripts/build-dashboard.mjs; marks a folder as a built dashboard (not its sources). */
export const BUILD_MARKER = "build.json";

export const NOT_BUILT_HINT = "dashboard not built: run npm run build";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** Names the build gives content-hashed files: `main-ABCD1234.js`; they never change, so they cache for a year. */
const HASHED_NAME = /-[A-Z0-9]{8}\.(js|css)(\.map)?$/;

/** The page may talk only to its own origin; no inline script, no framing. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

interface StaticFile {
  readonly body: Buffer;
  /** Compressed on first request (not at start-up, which stays fast); null when gzip does not help. */
  gzipped: Buffer | null | undefined;
  readonly contentType: string;
  readonly etag: string;
  readonly cacheControl: string;
}

export interface StaticFilesOptions {
  /** The built folder, or undefined when there is none (every page path then answers 404 with a hint). */
  readonly dir: string | undefined;
  /** Where the files appear, with slashes at both ends, e.g. "/dashboard/". */
  readonly mount: string;
}

/** The first candidate folder that holds a built dashboard, or undefined. */
export function findBuiltDir(candidates: readonly string[]): string | undefined {
  return candidates.find((dir) => existsSync(join(dir, BUILD_MARKER)));
}

/** Every regular file below `dir`, as slash-separated paths relative to it. */
export function listFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile()) found.push(relative(dir, path).split(sep).join("/"));
    }
  };
  walk(dir);
  return found;
}

export function contentTypeOf(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? "application/octet-stream";
}

export function cacheControlOf(name: string): string {
  return HASHED_NAME.test(name) ? "public, max-age=31536000, immutable" : "no-cache";
}

/**
 * What a request path means under the mount: a redirect (to the mount with its slash), a file
 * name relative to the mount ("" is the index), or undefined when the path is not ours.
 * Throws URIError for a malformed percent-encoding.
 */
export function resolveRequestPath(path: string, mount: string): { redirect: string } | { file: string } | undefined {
  const bare = mount.slice(0, -1); // "/dashboard"
  // Relative redirects keep working behind a proxy that mounts the gateway under a prefix.
  if (path === "/") return { redirect: mount.slice(1) };
  if (path === bare) return { redirect: `${bare.slice(bare.lastIndexOf("/") + 1)}/` };
  if (!path.startsWith(mount)) return undefined;
  const file = decodeURIComponent(path.slice(mount.length));
  return { file: file === "" ? "index.html" : file };
}

/** Returns a request handler that answers the mount's paths and `/`, and returns false for any other path. */
export function createStaticFiles(options: StaticFilesOptions): (req: NodeRequest, res: NodeResponse) => boolean {
  const files = new Map<string, StaticFile>();
  if (options.dir !== undefined) {
    for (const name of listFiles(options.dir)) {
      const body = readFileSync(join(options.dir, name));
      files.set(name, {
        body,
        gzipped: body.length > 1024 ? undefined : null,
        contentType: contentTypeOf(name),
        etag: `W/"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
        cacheControl: cacheControlOf(name),
      });
    }
  }

  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    let target: ReturnType<typeof resolveRequestPath>;
    try {
      target = resolveRequestPath(path, options.mount);
    } catch {
      plain(res, 400, "bad request: malformed percent-encoding in the path");
      return true;
    }
    if (target === undefined) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      plain(res, 405, "method not allowed: the dashboard answers GET and HEAD");
      return true;
    }
    if (options.dir === undefined) {
      plain(res, 404, NOT_BUILT_HINT);
      return true;
    }
    if ("redirect" in target) {
      res.writeHead(302, { location: target.redirect, "content-type": "text/plain; charset=utf-8" });
      res.end(`see ${target.redirect}\n`);
      return true;
    }
    const file = files.get(target.file);
    if (file === undefined) {
      plain(res, 404, "not found");
      return true;
    }
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      "content-type": file.contentType,
      "cache-control": file.cacheControl,
      etag: file.etag,
      vary: "accept-encoding",
    };
    if (header(req, "if-none-match") === file.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    let body = file.body;
    if (file.gzipped !== null && /\bgzip\b/.test(header(req, "accept-encoding") ?? "")) {
      if (file.gzipped === undefined) {
        const gz = gzipSync(file.body);
        file.gzipped = gz.length < file.body.length ? gz : null;
      }
      if (file.gzipped !== null) {
        body = file.gzipped;
        headers["content-encoding"] = "gzip";
      }
    }
    headers["content-length"] = String(body.length);
    res.writeHead(200, headers);
    if (req.method === "HEAD") res.end();
    else res.end(body);
    return true;
  };
}

function plain(res: NodeResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" });
  res.end(`${text}\n`);
}

function header(req: NodeRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
