/**
 * Metrics through the OpenTelemetry API, read out as Prometheus text on GET /metrics of the one
 * port, and pushed over OTLP/HTTP when the standard OTEL_* variables ask for it. Each app owns its
 * MeterProvider (no globals), so tests and several apps in one process stay apart. Most
 * instruments are observed from the components' own counters at collection time, so the hot
 * paths pay nothing for them.
 */
import type { Meter } from "@opentelemetry/api";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from "@opentelemetry/sdk-metrics";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ConfigError } from "../config/config.js";

export interface Telemetry {
  readonly meter: Meter;
  /** Answers a scrape with the Prometheus text format. */
  serveMetrics(req: IncomingMessage, res: ServerResponse): void;
  shutdown(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

export function createTelemetry(env: Env = process.env): Telemetry {
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const readers: IMetricReader[] = [prometheus];
  const otlp = otlpMetricsSettings(env);
  if (otlp !== undefined) {
    // The exporter reads its endpoint, headers and protocol details from the same OTEL_* variables.
    readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), ...otlp }));
  }
  const provider = new MeterProvider({ readers, resource: resourceFromAttributes({ "service.name": env["OTEL_SERVICE_NAME"] ?? "virtufin-api" }) });
  return {
    meter: provider.getMeter("virtufin-api"),
    serveMetrics: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    // Shutting the provider down flushes a last OTLP export, so the final counts are not lost.
    shutdown: () => provider.shutdown(),
  };
}

export interface OtlpMetricsSettings {
  readonly exportIntervalMillis: number;
  readonly exportTimeoutMillis: number;
}

/**
 * Whether and how often to push metrics over OTLP, from the standard variables: on when
 * OTEL_METRICS_EXPORTER names "otlp", or when an OTLP endpoint is set and OTEL_METRICS_EXPORTER
 * does not say "none" (the same rule as traces); interval and timeout from
 * OTEL_METRIC_EXPORT_INTERVAL / OTEL_METRIC_EXPORT_TIMEOUT (SDK defaults 60 s / 30 s).
 */
export function otlpMetricsSettings(env: Env): OtlpMetricsSettings | undefined {
  const kinds = (env["OTEL_METRICS_EXPORTER"] ?? "").split(",").map((s) => s.trim());
  if (kinds.includes("none")) return undefined;
  const endpointSet = env["OTEL_EXPORTER_OTLP_ENDPOINT"] !== undefined || env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] !== undefined;
  if (!kinds.includes("otlp") && !endpointSet) return undefined;
  const exportIntervalMillis = positiveMillis(env, "OTEL_METRIC_EXPORT_INTERVAL", 60_000);
  // The SDK refuses a timeout longer than the interval.
  const exportTimeoutMillis = Math.min(positiveMillis(env, "OTEL_METRIC_EXPORT_TIMEOUT", 30_000), exportIntervalMillis);
  return { exportIntervalMillis, exportTimeoutMillis };
}

function positiveMillis(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive whole number of milliseconds, got "${raw}"`);
  return value;
}

/** What the gateway's components expose to be observed at scrape time. */
export interface MetricSources {
  readonly subscribers: () => { active: number; delivered: number; slowConsumersCut: number; dropped: number; maxQueueDepth: number };
  readonly eventsReceived: () => number;
  readonly backendSubscriptions: () => ReadonlyArray<{ pubsub: string; topic: string; status: string }>;
  readonly deniedCalls: () => number;
  readonly breakerStates: () => Record<string, string>;
}

export interface GatewayMetrics {
  rpc(method: string, code: string, durationMs: number): void;
  daprRetry(operation: string): void;
  daprCall(operation: string, durationMs: number, outcome: "ok" | "error"): void;
}

const BREAKER_VALUE: Record<string, number> = { closed: 0, halfOpen: 0.5, open: 1 };

export function createGatewayMetrics(meter: Meter, sources: MetricSources): GatewayMetrics {
  const calls = meter.createCounter("virtufin.rpc.calls", { description: "RPCs served, by method and status code" });
  const duration = meter.createHistogram("virtufin.rpc.duration", { description: "RPC duration", unit: "ms" });
  const retries = meter.createCounter("virtufin.dapr.retries", { description: "Dapr call attempts retried" });
  const daprDuration = meter.createHistogram("virtufin.dapr.call.duration", {
    description: "Dapr call duration, every attempt and backoff included, by operation and outcome",
    unit: "ms",
  });

  meter
    .createObservableGauge("virtufin.subscribers.active", { description: "Open Subscribe streams" })
    .addCallback((r) => r.observe(sources.subscribers().active));
  meter
    .createObservableCounter("virtufin.events.delivered", { description: "Events queued to subscribers (one per subscriber reached: the fan-out)" })
    .addCallback((r) => r.observe(sources.subscribers().delivered));
  meter
    .createObservableCounter("virtufin.events.received", { description: "Events received from the backend subscriptions" })
    .addCallback((r) => r.observe(sources.eventsReceived()));
  meter
    .createObservableCounter("virtufin.events.dropped", { description: "Events thrown away with a slow consumer's queue" })
    .addCallback((r) => r.observe(sources.subscribers().dropped));
  meter
    .createObservableCounter("virtufin.subscribers.slow_consumers_cut", { description: "Subscribers ended because their buffer overflowed" })
    .addCallback((r) => r.observe(sources.subscribers().slowConsumersCut));
  meter
    .createObservableGauge("virtufin.subscribers.max_queue_depth", { description: "Deepest subscriber queue seen" })
    .addCallback((r) => r.observe(sources.subscribers().maxQueueDepth));
  meter
    .createObservableGauge("virtufin.backend.subscriptions", { description: "Backend subscriptions, by status" })
    .addCallback((r) => {
      const byStatus = new Map<string, number>();
      for (const s of sources.backendSubscriptions()) byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
      for (const [status, n] of byStatus) r.observe(n, { status });
    });
  meter
    .createObservableCounter("virtufin.calls.denied", { description: "Calls refused by access control" })
    .addCallback((r) => r.observe(sources.deniedCalls()));
  meter
    .createObservableGauge("virtufin.dapr.breaker.open", { description: "Circuit breaker state per Dapr operation: 0 closed, 0.5 half-open, 1 open" })
    .addCallback((r) => {
      for (const [operation, state] of Object.entries(sources.breakerStates())) r.observe(BREAKER_VALUE[state] ?? 0, { operation });
    });

  return {
    rpc(method, code, durationMs) {
      calls.add(1, { method, code });
      duration.record(durationMs, { method, code });
    },
    daprRetry(operation) {
      retries.add(1, { operation });
    },
    daprCall(operation, durationMs, outcome) {
      daprDuration.record(durationMs, { operation, outcome });
    },
  };
}
