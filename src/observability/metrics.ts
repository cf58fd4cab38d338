/**
 * Metrics through the OpenTelemetry API, read out as Prometheus text on GET /metrics of the one
 * port. Each app owns its MeterProvider (no globals), so tests and several apps in one process
 * stay apart. Most instruments are observed from the components' own counters at scrape time, so
 * the hot paths pay nothing for them.
 */
import type { Meter } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import type { IncomingMessage, ServerResponse } from "node:http";

export interface Telemetry {
  readonly meter: Meter;
  /** Answers a scrape with the Prometheus text format. */
  serveMetrics(req: IncomingMessage, res: ServerResponse): void;
  shutdown(): Promise<void>;
}

export function createTelemetry(): Telemetry {
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [prometheus], resource: resourceFromAttributes({ "service.name": "virtufin-api" }) });
  return {
    meter: provider.getMeter("virtufin-api"),
    serveMetrics: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    shutdown: () => provider.shutdown(),
  };
}

/** What the gateway's components expose to be observed at scrape time. */
export interface MetricSources {
  readonly subscribers: () => { active: number; delivered: number; slowConsumersCut: number; maxQueueDepth: number };
  readonly backendSubscriptions: () => ReadonlyArray<{ pubsub: string; topic: string; status: string }>;
  readonly deniedCalls: () => number;
  readonly breakerStates: () => Record<string, string>;
}

export interface GatewayMetrics {
  rpc(method: string, code: string, durationMs: number): void;
  daprRetry(operation: string): void;
}

const BREAKER_VALUE: Record<string, number> = { closed: 0, halfOpen: 0.5, open: 1 };

export function createGatewayMetrics(meter: Meter, sources: MetricSources): GatewayMetrics {
  const calls = meter.createCounter("virtufin.rpc.calls", { description: "RPCs served, by method and status code" });
  const duration = meter.createHistogram("virtufin.rpc.duration", { description: "RPC duration", unit: "ms" });
  const retries = meter.createCounter("virtufin.dapr.retries", { description: "Dapr call attempts retried" });

  meter
    .createObservableGauge("virtufin.subscribers.active", { description: "Open Subscribe streams" })
    .addCallback((r) => r.observe(sources.subscribers().active));
  meter
    .createObservableCounter("virtufin.events.delivered", { description: "Events queued to subscribers" })
    .addCallback((r) => r.observe(sources.subscribers().delivered));
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
  };
}
