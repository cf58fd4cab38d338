/**
 * Metrics pushed over OTLP/HTTP to a collector, configured only by the standard OTEL_* variables:
 * a real gateway process, a real HTTP collector on loopback receiving the exporter's JSON
 * requests. The counts must match the traffic exactly, and the last export at SIGTERM must carry
 * the final values.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { eventually, tempDir } from "../support/gateway.js";
import { spawnGateway } from "../support/process.js";

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string };
}
interface OtlpPoint {
  attributes?: OtlpAttribute[];
  asDouble?: number;
  asInt?: string | number;
  count?: string | number;
}
interface OtlpMetric {
  name: string;
  sum?: { dataPoints: OtlpPoint[] };
  gauge?: { dataPoints: OtlpPoint[] };
  histogram?: { dataPoints: OtlpPoint[] };
}
interface OtlpExport {
  resourceMetrics: Array<{ resource: { attributes: OtlpAttribute[] }; scopeMetrics: Array<{ metrics: OtlpMetric[] }> }>;
}

/** A minimal OTLP/HTTP collector: keeps every JSON export request posted to /v1/metrics. */
async function startCollector(): Promise<{ server: Server; url: string; exports: OtlpExport[]; contentTypes: string[] }> {
  const exports: OtlpExport[] = [];
  const contentTypes: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/metrics") {
        contentTypes.push(req.headers["content-type"] ?? "");
        exports.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpExport);
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("collector has no port");
  return { server, url: `http://127.0.0.1:${address.port}`, exports, contentTypes };
}

/** The value of a sum or gauge point, or the count of a histogram point, whose attributes include `labels`. */
function pointValue(exp: OtlpExport, name: string, labels: Record<string, string>): number | undefined {
  for (const rm of exp.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      for (const metric of sm.metrics) {
        if (metric.name !== name) continue;
        const data = metric.sum ?? metric.gauge ?? metric.histogram;
        for (const point of data?.dataPoints ?? []) {
          const attrs = new Map((point.attributes ?? []).map((a) => [a.key, a.value.stringValue]));
          if (!Object.entries(labels).every(([k, v]) => attrs.get(k) === v)) continue;
          const raw = metric.histogram ? point.count : (point.asDouble ?? point.asInt);
          return raw === undefined ? undefined : Number(raw);
        }
      }
    }
  }
  return undefined;
}

const lastValue = (exports: readonly OtlpExport[], name: string, labels: Record<string, string>) =>
  exports.map((e) => pointValue(e, name, labels)).filter((v) => v !== undefined).at(-1);

describe("OTLP metrics export", () => {
  it("pushes the RPC counters to the configured endpoint and flushes the final values at shutdown", async () => {
    const collector = await startCollector();
    const dir = tempDir();
    const gateway = await spawnGateway(["--data-dir", dir.path], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_METRIC_EXPORT_INTERVAL: "200",
      OTEL_SERVICE_NAME: "virtufin-api-otlp-test",
      OTEL_TRACES_EXPORTER: "none",
    });
    try {
      const state = createClient(State, createConnectTransport({ baseUrl: gateway.baseUrl, httpVersion: "1.1" }));
      for (let i = 0; i < 3; i++) await state.saveState({ service: "workmanager", key: `otlp-${i}`, value: "v" });
      const saves = { method: "virtufin.api.v1.State/SaveState", code: "ok" };
      await eventually(() => lastValue(collector.exports, "virtufin.rpc.calls", saves) === 3, "an export with 3 SaveState calls", 100, 100);
      assert.equal(lastValue(collector.exports, "virtufin.rpc.duration", saves), 3, "the latency histogram counted the same calls");
      assert.ok(collector.contentTypes.every((t) => t.startsWith("application/json")), collector.contentTypes.join(","));
      const resource = collector.exports[0]?.resourceMetrics[0]?.resource.attributes ?? [];
      assert.equal(resource.find((a) => a.key === "service.name")?.value.stringValue, "virtufin-api-otlp-test", "OTEL_SERVICE_NAME names the resource");

      // One more call, then SIGTERM right away: the shutdown flush must carry it.
      await state.getState({ service: "workmanager", key: "otlp-0" });
      const before = collector.exports.length;
      assert.equal(await gateway.stop("SIGTERM"), 0);
      assert.ok(collector.exports.length > before, "an export was sent during shutdown");
      assert.equal(lastValue(collector.exports, "virtufin.rpc.calls", { method: "virtufin.api.v1.State/GetState", code: "ok" }), 1);
      assert.equal(lastValue(collector.exports, "virtufin.rpc.calls", saves), 3);
    } finally {
      await gateway.stop();
      collector.server.close();
      dir.remove();
    }
  });

  it("exports nothing when no OTLP endpoint or exporter is configured", async () => {
    const collector = await startCollector();
    const dir = tempDir();
    const env: Record<string, string> = { OTEL_METRIC_EXPORT_INTERVAL: "100" };
    // The collector is running, but the gateway is not told about it.
    const gateway = await spawnGateway(["--data-dir", dir.path], env);
    try {
      const state = createClient(State, createConnectTransport({ baseUrl: gateway.baseUrl, httpVersion: "1.1" }));
      await state.saveState({ service: "workmanager", key: "quiet", value: "v" });
      assert.equal(await gateway.stop("SIGTERM"), 0);
      assert.equal(collector.exports.length, 0);
    } finally {
      await gateway.stop();
      collector.server.close();
      dir.remove();
    }
  });
});
