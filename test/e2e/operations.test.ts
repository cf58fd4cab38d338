/**
 * Operating the gateway: one structured log line per RPC with no credentials in it, readiness,
 * and graceful shutdown on SIGTERM (idle streams end with UNAVAILABLE so clients reconnect
 * elsewhere, streams blocked on slow readers are reset after the grace period, the process exits
 * by itself with status 0).
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { Writable } from "node:stream";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SubscribeRequestSchema } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { hashToken } from "../../src/auth/identity.js";
import { createRootLogger } from "../../src/observability/logger.js";
import { startGateway, tempDir } from "../support/gateway.js";
import { scrape } from "../support/metrics.js";
import { spawnGateway } from "../support/process.js";
import { grpcFrame, openRawGrpcStream } from "../support/raw-http2.js";

describe("operations", () => {
  it("logs one line per RPC with method, code, duration and caller, never the token", async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split("\n").filter((l) => l !== ""));
        done();
      },
    });
    const token = "a-very-secret-token-value-0001";
    const policyFile = join(dir.path, "policy.json");
    writeFileSync(policyFile, JSON.stringify({ auth: { tokens: [{ service: "workmanager", sha256: hashToken(token) }] } }));
    const logger = createRootLogger("info", sink);
    const gw = await startGateway({ policyFile, logLevel: "info" }, { logger });
    try {
      const auth: Interceptor = (next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req));
      const state = createClient(State, createGrpcTransport({ baseUrl: gw.baseUrl, interceptors: [auth] }));
      await state.saveState({ service: "workmanager", key: "logged", value: "v" });
      await state.getState({ service: "websocketmanager", key: "x" }).catch(() => {});
      logger.flush(); // the sink gathers lines for a few milliseconds (log-sink.ts)
      const rpc = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["msg"] === "rpc");
      assert.deepEqual(
        rpc.map((l) => [l["method"], l["code"], l["caller"]]),
        [
          ["virtufin.api.v1.State/SaveState", "ok", "workmanager"],
          ["virtufin.api.v1.State/GetState", "PermissionDenied", "workmanager"],
        ],
      );
      assert.ok(rpc.every((l) => typeof l["durationMs"] === "number"));
      assert.ok(!lines.some((l) => l.includes(token)), "the token never reaches the log");
      // The same calls moved the metrics by exactly that much.
      assert.equal(await scrape(gw.baseUrl, "virtufin_rpc_calls_total", { method: "virtufin.api.v1.State/SaveState", code: "ok" }), 1);
      assert.equal(await scrape(gw.baseUrl, "virtufin_rpc_calls_total", { method: "virtufin.api.v1.State/GetState", code: "PermissionDenied" }), 1);
      assert.equal(await scrape(gw.baseUrl, "virtufin_calls_denied_total"), 1);
      await state.saveState({ service: "workmanager", key: "logged", value: "v2" });
      assert.equal(await scrape(gw.baseUrl, "virtufin_rpc_calls_total", { method: "virtufin.api.v1.State/SaveState", code: "ok" }), 2);
    } finally {
      await gw.stop();
      dir.remove();
    }
  });

  it("shuts down gracefully on SIGTERM with 90 idle and 10 blocked streams and 20 unary calls in flight", async () => {
    const dir = tempDir();
    const gw = await spawnGateway(["--data-dir", dir.path, "--shutdown-grace-ms", "1500", "--subscriber-buffer-size", "100000"]);
    const session = http2.connect(gw.baseUrl);
    try {
      const frame = grpcFrame(SubscribeRequestSchema, { topics: ["workmanager.shutdown"] });
      const idle = Array.from({ length: 90 }, () => openRawGrpcStream(session, "/virtufin.api.v1.Gateway/Subscribe", grpcFrame(SubscribeRequestSchema, {})));
      const blockedSession = http2.connect(gw.baseUrl);
      const blocked = Array.from({ length: 10 }, () => openRawGrpcStream(blockedSession, "/virtufin.api.v1.Gateway/Subscribe", frame));
      await Promise.all([...idle, ...blocked].map((s) => s.headers));
      for (const s of blocked) s.stream.pause();
      const pubsub = createClient(Pubsub, createGrpcTransport({ baseUrl: gw.baseUrl }));
      const payload = new TextEncoder().encode("x".repeat(16 * 1024));
      for (let i = 0; i < 40; i++) await pubsub.publishEvent({ service: "workmanager", topic: "workmanager.shutdown", data: payload });

      // 20 unary calls in flight as the signal arrives: each completes or is refused as UNAVAILABLE.
      const state = createClient(State, createGrpcTransport({ baseUrl: gw.baseUrl }));
      // Connect first: the calls race the signal on an established HTTP/2 connection (a connection
      // still being opened when the listener closes fails at the TCP level, before any gateway code).
      await state.getState({ service: "workmanager", key: "warm-up" });
      const unary = Array.from({ length: 20 }, (_, i) =>
        state.saveState({ service: "workmanager", key: `inflight-${i}`, value: "v" }).then(
          () => "ok",
          (e: unknown) => `${Code[ConnectError.from(e).code]}: ${ConnectError.from(e).rawMessage}`,
        ),
      );
      const exit = gw.stop("SIGTERM");
      const outcomes = await Promise.all(unary);
      // A call the gateway saw either completes or is refused with UNAVAILABLE. A stream that reaches
      // Node's HTTP/2 server after it began closing is refused at the HTTP/2 layer before any
      // handler runs (REFUSED_STREAM after GOAWAY, or CANCEL); the Connect client reports those as
      // INTERNAL or CANCELED. They were never executed, so they are safe to retry.
      const refusedByHttp2 = /^(Internal: Stream closed with error code NGHTTP2_REFUSED_STREAM|Canceled: http\/2 stream closed with error code CANCEL \(0x8\))$/;
      for (const outcome of outcomes) {
        assert.ok(outcome === "ok" || outcome.startsWith("Unavailable") || refusedByHttp2.test(outcome), outcome);
      }
      const idleEnds = await Promise.all(idle.map((s) => s.closed));
      for (const end of idleEnds) assert.equal(end.trailers["grpc-status"], "14", `idle stream ended with ${JSON.stringify(end.trailers)}`);
      const blockedEnds = await Promise.all(blocked.map((s) => s.closed));
      for (const end of blockedEnds) assert.notEqual(end.trailers["grpc-status"], "0", "a blocked stream never ends as a success");
      assert.equal(await exit, 0, `exit status 0:\n${gw.output().slice(-2000)}`);
      assert.match(gw.output(), /"msg":"stopped"/);
      blockedSession.destroy();
    } finally {
      session.destroy();
      dir.remove();
    }
  });
});
