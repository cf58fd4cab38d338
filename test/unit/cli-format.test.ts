/**
 * What the virtufin CLI prints, as pure functions: event lines (human and JSON), previews,
 * tables, error lines with their codes, reconnect delays, and the metadata of a publish.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { StreamEventSchema } from "../../gen/virtufin/api/v1/common_pb.js";
import { ScenarioSchema, ScenarioStatus } from "../../gen/virtufin/api/v1/scenarios_pb.js";
import { isPermanent, reconnectDelayMs, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS } from "../../src/cli/backoff.js";
import { publishMetadata } from "../../src/cli/commands/publish.js";
import { subscribeRequest } from "../../src/cli/commands/subscribe.js";
import { codeName, ExitStatus, exitStatusOf, formatError, UsageError } from "../../src/cli/errors.js";
import { formatEvent, formatEventJson, formatScenarioTable, formatStateTable, formatTable, previewData, truncate } from "../../src/cli/format.js";

const text = (s: string) => new TextEncoder().encode(s);

describe("formatEvent", () => {
  it("prints time, service, topic, type, id and the payload on one line", () => {
    const event = create(StreamEventSchema, {
      timestamp: "2025-01-02T03:04:05.678Z",
      service: "workmanager",
      topic: "workmanager.workerstatus",
      eventType: "pubsub",
      messageId: "6f0c",
      data: text('{\n  "worker_id": "w1"\n}'),
    });
    assert.equal(formatEvent(event), '2025-01-02T03:04:05.678Z  workmanager  workmanager.workerstatus  pubsub  6f0c  { "worker_id": "w1" }');
  });

  it("shows a dash for missing fields and never more than one line", () => {
    fc.assert(
      fc.property(fc.string(), fc.uint8Array({ maxLength: 300 }), (topic, data) => {
        const line = formatEvent(create(StreamEventSchema, { topic: topic.replace(/\s/g, "_"), data }));
        assert.ok(!line.includes("\n"));
        assert.ok(line.startsWith("-  -  "));
      }),
    );
  });

  it("as JSON is one line that parses back into the same StreamEvent", () => {
    const event = create(StreamEventSchema, { service: "s", topic: "t", eventType: "state", data: new Uint8Array([0, 1, 255]), metadata: { "ce-id": "x" } });
    const line = formatEventJson(event);
    assert.ok(!line.includes("\n"));
    assert.deepEqual(fromJsonString(StreamEventSchema, line), event);
    assert.equal((JSON.parse(line) as { data: string }).data, "AAH/");
  });
});

describe("previewData", () => {
  it("shows text, marks binary and empty payloads, and cuts long ones", () => {
    assert.equal(previewData(new Uint8Array()), "<empty>");
    assert.equal(previewData(new Uint8Array([0xff, 0xfe, 0x00])), "<3 bytes binary>");
    assert.equal(previewData(text("\u0000\u0001abc")), "<5 bytes binary>");
    assert.equal(previewData(text("a\tb\r\nc")), "a b c");
    assert.equal(previewData(text("x".repeat(200)), 10), `${"x".repeat(9)}…`);
    assert.equal(previewData(text("⏱️".repeat(3)), 100), "⏱️⏱️⏱️");
  });

  it("cuts by characters, not UTF-16 units", () => {
    assert.equal(truncate("😀😀😀", 2), "😀…");
    assert.equal(truncate("abc", 3), "abc");
  });
});

describe("tables", () => {
  it("aligns columns and leaves the last one unpadded", () => {
    assert.deepEqual(formatTable(["A", "BB"], [["long", "x"], ["s", ""]]), ["A     BB", "long  x", "s"]);
  });

  it("lists state sorted by key with ETags", () => {
    assert.deepEqual(formatStateTable({ b: "2", a: "one\ntwo" }, { a: "5", b: "7" }), ["KEY  ETAG  VALUE", "a    5     one two", "b    7     2"]);
  });

  it("shows scenario statuses without the enum prefix", () => {
    const s = create(ScenarioSchema, { scenarioId: "q1", status: ScenarioStatus.PAUSED, description: "d", createdAt: "c", updatedAt: "u" });
    assert.deepEqual(formatScenarioTable([s]), ["ID  STATUS  CREATED  UPDATED  DESCRIPTION", "q1  paused  c        u        d"]);
  });
});

describe("formatError", () => {
  it("names Connect's code and the gRPC number on one line", () => {
    const e = new ConnectError('etag mismatch for key "k":\nthe stored etag is different', Code.Aborted);
    assert.equal(formatError(e), 'virtufin: aborted: etag mismatch for key "k": the stored etag is different (code 10)');
  });

  it("names the address when the gateway cannot be reached", () => {
    const e = new ConnectError("connect ECONNREFUSED 127.0.0.1:5002", Code.Unavailable);
    assert.equal(
      formatError(e, { baseUrl: "http://127.0.0.1:5002", protocol: "grpc" }),
      "virtufin: unavailable: connect ECONNREFUSED 127.0.0.1:5002 (code 14) [gateway http://127.0.0.1:5002 over grpc]",
    );
    assert.equal(formatError(new ConnectError("x", Code.NotFound), { baseUrl: "http://h" }), "virtufin: not_found: x (code 5)");
  });

  it("points usage errors to --help and other errors to a plain line", () => {
    assert.equal(formatError(new UsageError("no command given")), "virtufin: no command given (see virtufin --help)");
    assert.equal(formatError(new Error("EACCES:\n stdin")), "virtufin: error: EACCES: stdin");
    assert.equal(exitStatusOf(new UsageError("x")), ExitStatus.usage);
    assert.equal(exitStatusOf(new ConnectError("x", Code.Internal)), ExitStatus.rpcError);
  });

  it("spells every code the way Connect does", () => {
    assert.equal(codeName(Code.DeadlineExceeded), "deadline_exceeded");
    assert.equal(codeName(Code.PermissionDenied), "permission_denied");
    assert.equal(codeName(Code.Unauthenticated), "unauthenticated");
    assert.equal(codeName(Code.Canceled), "canceled");
    assert.equal(codeName(99 as Code), "code_99");
  });
});

describe("reconnecting", () => {
  it("backs off exponentially with jitter, within [ceiling/2, ceiling], capped", () => {
    assert.equal(reconnectDelayMs(0, 0), RECONNECT_INITIAL_MS / 2);
    assert.equal(reconnectDelayMs(0, 0.999999), RECONNECT_INITIAL_MS);
    assert.equal(reconnectDelayMs(1, 0), RECONNECT_INITIAL_MS);
    assert.equal(reconnectDelayMs(100, 0.999999), RECONNECT_MAX_MS);
    fc.assert(
      fc.property(fc.nat(1000), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** Math.min(attempt, 30));
        const d = reconnectDelayMs(attempt, r);
        assert.ok(d >= ceiling / 2 && d <= ceiling, `${attempt} ${r} -> ${d}`);
      }),
    );
  });

  it("retries what another attempt may fix, and not a refused request", () => {
    for (const code of [Code.Unavailable, Code.Internal, Code.Unknown, Code.ResourceExhausted, Code.DeadlineExceeded, Code.Aborted]) {
      assert.equal(isPermanent(code), false, Code[code]);
    }
    for (const code of [Code.InvalidArgument, Code.NotFound, Code.PermissionDenied, Code.Unauthenticated, Code.FailedPrecondition, Code.Unimplemented]) {
      assert.equal(isPermanent(code), true, Code[code]);
    }
  });

  it("maps the filter flags onto SubscribeRequest", () => {
    assert.deepEqual(subscribeRequest({ service: ["a"], topic: [], type: ["state", "system"] }), { services: ["a"], topics: [], eventTypes: ["state", "system"] });
  });
});

describe("publishMetadata", () => {
  it("puts --meta entries and the CloudEvents flags into metadata", () => {
    assert.deepEqual(publishMetadata({ meta: ["x-a=1=2", "ce-subject=s"], type: ["com.x"], source: "urn:y", id: "i1" }), {
      "x-a": "1=2",
      "ce-subject": "s",
      "ce-type": "com.x",
      "ce-source": "urn:y",
      "ce-id": "i1",
    });
    assert.deepEqual(publishMetadata({ meta: ["x-empty="], type: [], source: undefined, id: undefined }), { "x-empty": "" });
  });

  it("refuses an entry without key or given twice", () => {
    assert.throws(() => publishMetadata({ meta: ["=v"], type: [], source: undefined, id: undefined }), /--meta "=v" is not key=value/);
    assert.throws(() => publishMetadata({ meta: ["ce-type=a"], type: ["b"], source: undefined, id: undefined }), /metadata "ce-type" is given twice \(--type\)/);
    assert.throws(() => publishMetadata({ meta: ["x=1", "x=2"], type: [], source: undefined, id: undefined }), UsageError);
  });
});
