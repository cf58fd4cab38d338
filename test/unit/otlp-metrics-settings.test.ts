import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/config/config.js";
import { otlpMetricsSettings } from "../../src/observability/metrics.js";

describe("otlpMetricsSettings (standard OTEL_* variables)", () => {
  const rows: Array<[string, Record<string, string>, { exportIntervalMillis: number; exportTimeoutMillis: number } | undefined]> = [
    ["nothing set: no export", {}, undefined],
    ["an endpoint turns it on with the SDK defaults", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }, { exportIntervalMillis: 60_000, exportTimeoutMillis: 30_000 }],
    ["a metrics-only endpoint too", { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://c:4318/v1/metrics" }, { exportIntervalMillis: 60_000, exportTimeoutMillis: 30_000 }],
    ["OTEL_METRICS_EXPORTER=otlp alone (the exporter's default endpoint)", { OTEL_METRICS_EXPORTER: "otlp" }, { exportIntervalMillis: 60_000, exportTimeoutMillis: 30_000 }],
    ["none wins over an endpoint", { OTEL_METRICS_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }, undefined],
    ["prometheus only: no push", { OTEL_METRICS_EXPORTER: "prometheus" }, undefined],
    ["a list naming otlp", { OTEL_METRICS_EXPORTER: "prometheus, otlp" }, { exportIntervalMillis: 60_000, exportTimeoutMillis: 30_000 }],
    ["interval and timeout", { OTEL_METRICS_EXPORTER: "otlp", OTEL_METRIC_EXPORT_INTERVAL: "5000", OTEL_METRIC_EXPORT_TIMEOUT: "2000" }, { exportIntervalMillis: 5000, exportTimeoutMillis: 2000 }],
    ["the timeout is capped at the interval", { OTEL_METRICS_EXPORTER: "otlp", OTEL_METRIC_EXPORT_INTERVAL: "1000" }, { exportIntervalMillis: 1000, exportTimeoutMillis: 1000 }],
  ];
  for (const [name, env, expected] of rows) {
    it(name, () => assert.deepEqual(otlpMetricsSettings(env), expected));
  }

  for (const bad of ["0", "-5", "1.5", "soon"]) {
    it(`refuses OTEL_METRIC_EXPORT_INTERVAL=${bad} with a message naming it`, () => {
      assert.throws(
        () => otlpMetricsSettings({ OTEL_METRICS_EXPORTER: "otlp", OTEL_METRIC_EXPORT_INTERVAL: bad }),
        (e: unknown) => e instanceof ConfigError && e.message.includes("OTEL_METRIC_EXPORT_INTERVAL") && e.message.includes(bad),
      );
    });
  }
});
