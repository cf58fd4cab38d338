/**
 * The dashboard's static file handler behind a real HTTP server: only files of the built folder
 * listed at start are served (no traversal, however encoded), with the right content types and
 * cache headers; `/` and `/dashboard` redirect; without a build every page path says how to build.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import {
  BUILD_MARKER,
  cacheControlOf,
  contentTypeOf,
  createStaticFiles,
  findBuiltDir,
  NOT_BUILT_HINT,
  resolveRequestPath,
} from "../../src/server/static-files.js";
import { tempDir } from "../support/gateway.js";

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** A request with the path exactly as given (fetch would normalise "..", which is what we test). */
function raw(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Serves the handler; paths it does not take answer 418, so "not handled" is visible. */
async function serve(dir: string | undefined): Promise<{ server: Server; port: number }> {
  const handle = createStaticFiles({ dir, mount: "/dashboard/" });
  const server = createServer((req, res) => {
    if (handle(req, res)) return;
    res.writeHead(418);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe("static files: pure rules", () => {
  it("maps request paths under the mount to file names, and redirects / and the bare mount", () => {
    const cases: Array<[string, ReturnType<typeof resolveRequestPath>]> = [
      ["/", { redirect: "dashboard/" }],
      ["/dashboard", { redirect: "dashboard/" }],
      ["/dashboard/", { file: "index.html" }],
      ["/dashboard/main-ABCD1234.js", { file: "main-ABCD1234.js" }],
      ["/dashboard/a%20b.txt", { file: "a b.txt" }],
      ["/dashboard/%2e%2e/secret", { file: "../secret" }], // only ever a map key, never a file path
      ["/dashboardx", undefined],
      ["/metrics", undefined],
      ["/virtufin.api.v1.State/GetState", undefined],
    ];
    for (const [path, expected] of cases) assert.deepEqual(resolveRequestPath(path, "/dashboard/"), expected, path);
    assert.throws(() => resolveRequestPath("/dashboard/%E0%A4%A", "/dashboard/"), URIError);
  });

  it("names content types and cache policies by file name", () => {
    assert.equal(contentTypeOf("index.html"), "text/html; charset=utf-8");
    assert.equal(contentTypeOf("main-ABCD1234.js"), "text/javascript; charset=utf-8");
    assert.equal(contentTypeOf("style.CSS"), "text/css; charset=utf-8");
    assert.equal(contentTypeOf("main.js.map"), "application/json; charset=utf-8");
    assert.equal(contentTypeOf("blob.bin"), "application/octet-stream");
    assert.equal(cacheControlOf("main-ABCD1234.js"), "public, max-age=31536000, immutable");
    assert.equal(cacheControlOf("style-Z9Y8X7W6.css.map"), "public, max-age=31536000, immutable");
    assert.equal(cacheControlOf("index.html"), "no-cache");
    assert.equal(cacheControlOf("main.js"), "no-cache");
  });

  it("finds the first candidate folder that holds a build, never a source folder", () => {
    const root = tempDir();
    try {
      const source = join(root.path, "dashboard");
      const built = join(root.path, "dist-dashboard");
      mkdirSync(source);
      mkdirSync(built);
      writeFileSync(join(source, "index.html"), "<!-- template -->");
      assert.equal(findBuiltDir([source, built]), undefined);
      writeFileSync(join(built, BUILD_MARKER), "{}");
      assert.equal(findBuiltDir([join(root.path, "missing"), source, built]), built);
    } finally {
      root.remove();
    }
  });
});

describe("static files: served over HTTP", () => {
  const root = tempDir();
  const site = join(root.path, "site");
  const bigScript = `console.log(${JSON.stringify("x".repeat(5000))});\n`;
  let server: Server;
  let port: number;

  before(async () => {
    mkdirSync(join(site, "nested"), { recursive: true });
    writeFileSync(join(site, "index.html"), "<!doctype html><title>t</title>");
    writeFileSync(join(site, "main-ABCD1234.js"), bigScript);
    writeFileSync(join(site, "nested", "style.css"), "body{}");
    writeFileSync(join(site, BUILD_MARKER), "{}");
    writeFileSync(join(root.path, "secret.txt"), "must never be served");
    ({ server, port } = await serve(site));
    // Written after start: not part of the fixed set.
    writeFileSync(join(site, "late.js"), "late");
  });
  after(async () => {
    await close(server);
    root.remove();
  });

  it("redirects / and /dashboard to /dashboard/ with relative locations", async () => {
    for (const path of ["/", "/dashboard", "/?x=1"]) {
      const res = await raw(port, path);
      assert.equal(res.status, 302, path);
      assert.equal(res.headers["location"], "dashboard/", path);
    }
  });

  it("serves the index with no-cache and a strict content security policy", async () => {
    const res = await raw(port, "/dashboard/");
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "<!doctype html><title>t</title>");
    assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(res.headers["cache-control"], "no-cache");
    assert.equal(res.headers["x-content-type-options"], "nosniff");
    assert.match(String(res.headers["content-security-policy"]), /default-src 'none'; script-src 'self';.*connect-src 'self'/);
    assert.equal((await raw(port, "/dashboard/index.html?v=2")).body.toString(), res.body.toString());
  });

  it("serves hashed assets for a year and nested files with their type", async () => {
    const js = await raw(port, "/dashboard/main-ABCD1234.js");
    assert.equal(js.status, 200);
    assert.equal(js.body.toString(), bigScript);
    assert.equal(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(js.headers["cache-control"], "public, max-age=31536000, immutable");
    const css = await raw(port, "/dashboard/nested/style.css");
    assert.equal(css.headers["content-type"], "text/css; charset=utf-8");
    assert.equal(css.body.toString(), "body{}");
  });

  it("gzips larger files for clients that accept it, and answers HEAD and If-None-Match", async () => {
    const gz = await raw(port, "/dashboard/main-ABCD1234.js", { headers: { "accept-encoding": "gzip, br" } });
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.ok(gz.body.length < bigScript.length / 5, `${gz.body.length} bytes`);
    assert.equal(gunzipSync(gz.body).toString(), bigScript);
    assert.equal(gz.headers["vary"], "accept-encoding");
    const small = await raw(port, "/dashboard/nested/style.css", { headers: { "accept-encoding": "gzip" } });
    assert.equal(small.headers["content-encoding"], undefined, "tiny files are sent as they are");

    const head = await raw(port, "/dashboard/main-ABCD1234.js", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers["content-length"], String(Buffer.byteLength(bigScript)));

    const etag = String(head.headers["etag"]);
    const again = await raw(port, "/dashboard/main-ABCD1234.js", { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
  });

  it("serves nothing outside the listing, however the path is spelt", async () => {
    for (const path of [
      "/dashboard/../secret.txt",
      "/dashboard/%2e%2e/secret.txt",
      "/dashboard/..%2fsecret.txt",
      "/dashboard/nested/../../secret.txt",
      "/dashboard//etc/passwd",
      "/dashboard/nested",
      "/dashboard/late.js",
      "/dashboard/missing.js",
    ]) {
      const res = await raw(port, path);
      assert.equal(res.status, 404, path);
      assert.doesNotMatch(res.body.toString(), /must never be served/, path);
    }
    assert.equal((await raw(port, "/dashboard/%E0%A4%A")).status, 400);
  });

  it("answers other methods with 405 and leaves every other path to the next handler", async () => {
    const post = await raw(port, "/dashboard/", { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers["allow"], "GET, HEAD");
    for (const path of ["/metrics", "/readyz", "/virtufin.api.v1.State/GetState", "/dashboards"]) assert.equal((await raw(port, path)).status, 418, path);
  });
});

describe("static files: not built", () => {
  it("answers page paths with 404 and how to build, and still leaves other paths alone", async () => {
    const { server, port } = await serve(undefined);
    try {
      for (const path of ["/", "/dashboard", "/dashboard/", "/dashboard/main.js"]) {
        const res = await raw(port, path);
        assert.equal(res.status, 404, path);
        assert.equal(res.body.toString(), `${NOT_BUILT_HINT}\n`);
        assert.equal(NOT_BUILT_HINT, "dashboard not built: run npm run build");
      }
      assert.equal((await raw(port, "/healthz")).status, 418);
    } finally {
      await close(server);
    }
  });
});
