import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { completeCloudEvent, serviceSource, type CompleteOptions } from "../../src/events/cloudevents.js";

const NOW = new Date("2024-05-06T07:08:09.010Z");
const encoder = new TextEncoder();
const JSON_DATA = encoder.encode(JSON.stringify({ orderId: 42 }));

function options(overrides: Partial<CompleteOptions> = {}): CompleteOptions {
  return {
    service: "workmanager",
    topic: "workmanager.workerstatus",
    data: JSON_DATA,
    maxEntries: 16,
    now: () => NOW,
    newId: () => "id-1",
    ...overrides,
  };
}

/** Completes and returns the metadata, failing the test on a problem. */
function complete(metadata: Record<string, string>, overrides: Partial<CompleteOptions> = {}): Record<string, string> {
  const result = completeCloudEvent(metadata, options(overrides));
  if ("problem" in result) assert.fail(`unexpected problem: ${result.problem.code}: ${result.problem.message}`);
  return result.metadata;
}

/** Returns the problem, failing the test when the metadata was accepted. */
function problemOf(metadata: Record<string, string>, overrides: Partial<CompleteOptions> = {}) {
  const result = completeCloudEvent(metadata, options(overrides));
  if (!("problem" in result)) assert.fail(`accepted: ${JSON.stringify(result.metadata)}`);
  return result.problem;
}

describe("completeCloudEvent: defaults", () => {
  it("fills every required attribute from the options", () => {
    assert.deepEqual(complete({}), {
      "ce-specversion": "1.0",
      "ce-id": "id-1",
      "ce-source": "urn:com.virtufin.workmanager",
      "ce-type": "com.virtufin.workmanager.workmanager.workerstatus",
      "ce-time": "2024-05-06T07:08:09.010Z",
      "ce-datacontenttype": "application/json",
    });
  });

  it("names the source after the service", () => {
    assert.equal(serviceSource("state"), "urn:com.virtufin.state");
    assert.equal(complete({}, { service: "state" })["ce-source"], "urn:com.virtufin.state");
  });

  it("draws a fresh id for each event when no newId is given", () => {
    const { newId: _ignored, ...rest } = options();
    const a = completeCloudEvent({}, rest);
    const b = completeCloudEvent({}, rest);
    assert.ok("metadata" in a && "metadata" in b);
    const idA = a.metadata["ce-id"] ?? "";
    assert.match(idA, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(idA, b.metadata["ce-id"]);
  });

  it("uses the current time when no clock is given", () => {
    const { now: _ignored, ...rest } = options();
    const before = Date.now();
    const result = completeCloudEvent({}, rest);
    const after = Date.now();
    assert.ok("metadata" in result);
    const t = Date.parse(result.metadata["ce-time"] ?? "");
    assert.ok(t >= before && t <= after, `ce-time ${result.metadata["ce-time"]} not between calls`);
  });

  const contentTypes: ReadonlyArray<readonly [string, Uint8Array, string]> = [
    ["a JSON object", JSON_DATA, "application/json"],
    ["a JSON number", encoder.encode("42"), "application/json"],
    ["a JSON string", encoder.encode('"hi"'), "application/json"],
    ["JSON null", encoder.encode("null"), "application/json"],
    ["an empty payload", new Uint8Array(), "application/octet-stream"],
    ["plain text", encoder.encode("hello world"), "application/octet-stream"],
    ["whitespace only", encoder.encode("   "), "application/octet-stream"],
    ["truncated JSON", encoder.encode('{"a":'), "application/octet-stream"],
    ["invalid UTF-8", new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), "application/octet-stream"],
    ["binary bytes", new Uint8Array([0, 1, 2, 3]), "application/octet-stream"],
  ];
  for (const [name, data, expected] of contentTypes) {
    it(`guesses ${expected} for ${name}`, () => {
      assert.equal(complete({}, { data })["ce-datacontenttype"], expected);
    });
  }

  it("keeps every caller-supplied value unchanged", () => {
    const given = {
      "ce-specversion": "1.0",
      "ce-id": "order-42",
      "ce-source": "urn:com.virtufin.workmanager/worker-7",
      "ce-type": "com.example.order.created",
      "ce-time": "2020-01-02T03:04:05+01:00",
      "ce-datacontenttype": "text/plain; charset=utf-8",
      "ce-subject": "order-42",
      "ce-dataschema": "https://example.com/schema.json",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      tracestate: "congo=t61rcWkgMzE",
      "x-tenant": "acme",
    };
    assert.deepEqual(complete(given, { data: JSON_DATA }), given);
  });

  it("does not modify the caller's object", () => {
    const given = { "x-foo": "bar" };
    complete(given);
    assert.deepEqual(given, { "x-foo": "bar" });
  });

  it("fills only what is missing", () => {
    const out = complete({ "ce-id": "mine", "ce-type": "my.type" });
    assert.equal(out["ce-id"], "mine");
    assert.equal(out["ce-type"], "my.type");
    assert.equal(out["ce-time"], NOW.toISOString());
    assert.equal(out["ce-source"], "urn:com.virtufin.workmanager");
  });
});

describe("completeCloudEvent: allowed metadata", () => {
  const allowed: ReadonlyArray<readonly [string, Record<string, string>]> = [
    ["traceparent", { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }],
    ["tracestate", { tracestate: "vendor=value" }],
    ["x-foo", { "x-foo": "bar" }],
    ["x- with dots and dashes", { "x-a.b_c-d": "1" }],
    ["own source", { "ce-source": "urn:com.virtufin.workmanager" }],
    ["own source with a path", { "ce-source": "urn:com.virtufin.workmanager/sub" }],
    ["a non-virtufin source", { "ce-source": "https://example.com/feed" }],
    ["a CloudEvents extension attribute", { "ce-partitionkey": "p1" }],
    ["an RFC 3339 time with an offset", { "ce-time": "2024-01-01T00:00:00-05:00" }],
    ["an RFC 3339 time with fractions", { "ce-time": "2024-01-01T00:00:00.123456Z" }],
    ["an RFC 3339 time in lower case", { "ce-time": "2024-01-01t00:00:00z" }],
    ["a leap day", { "ce-time": "2024-02-29T12:00:00Z" }],
    ["a media type with parameters", { "ce-datacontenttype": "application/cloudevents+json; charset=utf-8" }],
    ["a value of exactly 4096 bytes", { "x-big": "a".repeat(4096) }],
  ];
  for (const [name, metadata] of allowed) {
    it(`allows ${name}`, () => {
      const out = complete(metadata);
      for (const [k, v] of Object.entries(metadata)) assert.equal(out[k], v);
    });
  }

  it("allows exactly maxEntries entries", () => {
    const metadata = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`x-e${i}`, "v"]));
    assert.equal(complete(metadata, { maxEntries: 8 })["x-e7"], "v");
  });
});

describe("completeCloudEvent: problems", () => {
  const invalid: ReadonlyArray<readonly [string, Record<string, string>, RegExp]> = [
    ["ce-specversion 0.3", { "ce-specversion": "0.3" }, /ce-specversion must be "1.0", got "0.3"/],
    ["ce-specversion 1", { "ce-specversion": "1" }, /ce-specversion/],
    ["ce-time yesterday", { "ce-time": "yesterday" }, /ce-time must be an RFC 3339 timestamp, got "yesterday"/],
    ["ce-time month 13, day 45", { "ce-time": "2024-13-45T00:00:00Z" }, /ce-time/],
    ["ce-time minute 60", { "ce-time": "2024-01-01T23:60:00Z" }, /ce-time/],
    ["ce-time without a zone", { "ce-time": "2024-01-01T00:00:00" }, /ce-time/],
    ["ce-time date only", { "ce-time": "2024-01-01" }, /ce-time/],
    ["ce-time epoch milliseconds", { "ce-time": "1704067200000" }, /ce-time/],
    ["ce-time offset +25:00", { "ce-time": "2024-01-01T00:00:00+25:00" }, /ce-time/],
    ["ce-datacontenttype json", { "ce-datacontenttype": "json" }, /ce-datacontenttype must be a media type/],
    ["ce-datacontenttype empty", { "ce-datacontenttype": "" }, /ce-datacontenttype/],
    ["empty ce-id", { "ce-id": "" }, /ce-id must be non-empty printable ASCII/],
    ["ce-id with a newline", { "ce-id": "a\nb" }, /ce-id/],
    ["ce-id non-ASCII", { "ce-id": "caf\u00e9" }, /ce-id/],
    ["empty ce-type", { "ce-type": "" }, /ce-type/],
    ["ce-source with a space", { "ce-source": "urn:x y" }, /ce-source must be a URI-reference/],
    ["empty ce-source", { "ce-source": "" }, /ce-source/],
    ["ce-dataschema with a space", { "ce-dataschema": "a b" }, /ce-dataschema/],
    ["rawPayload", { rawPayload: "true" }, /metadata key "rawPayload" is not allowed/],
    ["ttlInSeconds", { ttlInSeconds: "60" }, /metadata key "ttlInSeconds" is not allowed/],
    ["cloudevent.source", { "cloudevent.source": "x" }, /metadata key "cloudevent.source" is not allowed/],
    ["CE-ID upper case", { "CE-ID": "x" }, /metadata key "CE-ID" is not allowed/],
    ["ce-Id mixed-case attribute", { "ce-Id": "x" }, /CloudEvents attribute names are lower-case letters and digits/],
    ["ce- with no attribute name", { "ce-": "x" }, /CloudEvents attribute names/],
    ["ce-attribute with a dash", { "ce-my-attr": "x" }, /CloudEvents attribute names/],
    ["X-Foo upper case", { "X-Foo": "x" }, /not allowed/],
    ["bare x-", { "x-": "x" }, /not allowed/],
    ["authorization", { authorization: "Bearer t" }, /not allowed/],
    ["a value over 4096 bytes", { "x-big": "a".repeat(4097) }, /metadata "x-big" is longer than 4096 bytes/],
    ["a value over 4096 UTF-8 bytes but under in code units", { "x-big": "\u00e9".repeat(2049) }, /longer than 4096 bytes/],
    ["a ce- value over 4096 bytes", { "ce-subject": "a".repeat(5000) }, /longer than 4096 bytes/],
  ];
  for (const [name, metadata, message] of invalid) {
    it(`rejects ${name}`, () => {
      const problem = problemOf(metadata);
      assert.equal(problem.code, "invalid");
      assert.match(problem.message, message);
    });
  }

  it("rejects more entries than maxEntries", () => {
    const metadata = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`x-e${i}`, "v"]));
    const problem = problemOf(metadata, { maxEntries: 8 });
    assert.equal(problem.code, "invalid");
    assert.match(problem.message, /9 entries; the limit is 8/);
  });

  const foreignSources: readonly string[] = [
    "urn:com.virtufin.other",
    "urn:com.virtufin.other/sub",
    "urn:com.virtufin.workmanager2",
    "urn:com.virtufin.workmanager-evil",
    "urn:com.virtufin.",
    "urn:com.virtufin.virtufin-api",
  ];
  for (const source of foreignSources) {
    it(`answers "permission" for a ce-source naming another service: ${source}`, () => {
      const problem = problemOf({ "ce-source": source });
      assert.equal(problem.code, "permission");
      assert.match(problem.message, /names another service than "workmanager"/);
    });
  }
});

describe("completeCloudEvent: impossible calendar dates", () => {
  // RFC 3339 section 5.7: the day must exist in its month and year, and time-hour is 00-23.
  // Date.parse rolls these over into the next day or month instead of failing.
  const impossible: readonly string[] = [
    "2024-02-30T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-04-31T00:00:00Z",
    "2024-01-01T24:00:00Z",
  ];
  for (const time of impossible) {
    it(`rejects ce-time ${time}`, () => {
      const problem = problemOf({ "ce-time": time });
      assert.equal(problem.code, "invalid");
      assert.match(problem.message, /ce-time/);
    });
  }
});
