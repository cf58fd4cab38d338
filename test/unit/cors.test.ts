import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { corsHeaders } from "../../src/server/cors.js";

const ORIGIN = "https://dash.virtufin.example";
const ALLOWED = [ORIGIN, "http://localhost:5173"];

function list(value: string | undefined): string[] {
  return (value ?? "").split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "");
}

describe("corsHeaders", () => {
  it("echoes an allowed origin with Vary, credentials and the gRPC-Web expose headers", () => {
    const { headers, preflight } = corsHeaders(ALLOWED, "POST", ORIGIN, false);
    assert.equal(preflight, false);
    assert.equal(headers["access-control-allow-origin"], ORIGIN);
    assert.equal(headers["access-control-allow-credentials"], "true");
    assert.equal(headers["vary"], "Origin");
    const exposed = list(headers["access-control-expose-headers"]);
    for (const h of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) assert.ok(exposed.includes(h), h);
    assert.equal(headers["access-control-allow-methods"], undefined);
  });

  it("answers a preflight with methods, headers (Authorization included) and max-age", () => {
    const { headers, preflight } = corsHeaders(ALLOWED, "OPTIONS", ORIGIN, true);
    assert.equal(preflight, true);
    assert.equal(headers["access-control-allow-origin"], ORIGIN);
    assert.equal(headers["access-control-allow-credentials"], "true");
    assert.equal(headers["vary"], "Origin");
    const methods = list(headers["access-control-allow-methods"]);
    assert.ok(methods.includes("post") && methods.includes("get"), String(methods));
    const allowed = list(headers["access-control-allow-headers"]);
    for (const h of ["authorization", "content-type", "connect-protocol-version", "x-grpc-web", "grpc-timeout", "traceparent"]) {
      assert.ok(allowed.includes(h), h);
    }
    assert.match(headers["access-control-max-age"] ?? "", /^\d+$/);
  });

  it("treats OPTIONS without a preflight request as an ordinary request", () => {
    const { headers, preflight } = corsHeaders(ALLOWED, "OPTIONS", ORIGIN, false);
    assert.equal(preflight, false);
    assert.equal(headers["access-control-allow-methods"], undefined);
    assert.ok(headers["access-control-expose-headers"] !== undefined);
  });

  it("a preflight flag on a non-OPTIONS method is not a preflight", () => {
    assert.equal(corsHeaders(ALLOWED, "POST", ORIGIN, true).preflight, false);
  });

  const foreign: ReadonlyArray<readonly [string, readonly string[], string]> = [
    ["an unlisted origin", ALLOWED, "https://evil.example"],
    ["a different scheme", ALLOWED, "http://dash.virtufin.example"],
    ["a different port", ALLOWED, "http://localhost:5174"],
    ["a suffix of an allowed origin", ALLOWED, "https://dash.virtufin.example.evil.example"],
    ["the null origin", ALLOWED, "null"],
    ["any origin when none is configured", [], ORIGIN],
  ];
  for (const [name, allowed, origin] of foreign) {
    for (const [method, pre] of [["POST", false], ["OPTIONS", true]] as const) {
      it(`gives ${name} no CORS grant (${method})`, () => {
        const { headers, preflight } = corsHeaders(allowed, method, origin, pre);
        assert.equal(preflight, pre);
        assert.equal(headers["access-control-allow-origin"], undefined);
        assert.equal(headers["access-control-allow-credentials"], undefined);
        assert.equal(headers["access-control-allow-methods"], undefined);
        assert.equal(headers["vary"], "Origin");
      });
    }
  }

  it('"*" allows any origin but echoes it, never a literal "*"', () => {
    for (const origin of ["https://a.example", "http://localhost:3000"]) {
      for (const [method, pre] of [["POST", false], ["OPTIONS", true]] as const) {
        const { headers } = corsHeaders(["*"], method, origin, pre);
        assert.equal(headers["access-control-allow-origin"], origin);
        assert.notEqual(headers["access-control-allow-origin"], "*");
        assert.equal(headers["access-control-allow-credentials"], "true");
        assert.equal(headers["vary"], "Origin");
      }
    }
  });

  it("adds nothing to a request without an Origin", () => {
    assert.deepEqual(corsHeaders(["*"], "POST", undefined, false), { headers: {}, preflight: false });
    assert.deepEqual(corsHeaders(ALLOWED, "OPTIONS", undefined, true), { headers: {}, preflight: true });
  });
});
