/**
 * Registers the OpenTelemetry SDK globally. W3C trace context and an AsyncLocalStorage context
 * manager are always registered (cheap); spans are recorded only when an exporter is configured
 * by the standard variables (OTEL_TRACES_EXPORTER=otlp|console, or OTEL_EXPORTER_OTLP_ENDPOINT),
 * or given (tests pass an in-memory exporter). Without one, tracing costs nothing.
 */
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";

export interface TracingSetup {
  shutdown(): Promise<void>;
}

export function setupTelemetry(env: Readonly<Record<string, string | undefined>>, exporter?: SpanExporter): TracingSetup {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const chosen = exporter ?? exporterFromEnv(env);
  if (chosen === undefined) return { shutdown: async () => {} };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": env["OTEL_SERVICE_NAME"] ?? "virtufin-api" }),
    // A given exporter (tests) sees each span at once; real exporters get batches.
    spanProcessors: [exporter === undefined ? new BatchSpanProcessor(chosen) : new SimpleSpanProcessor(chosen)],
  });
  trace.setGlobalTracerProvider(provider);
  return { shutdown: () => provider.shutdown() };
}

function exporterFromEnv(env: Readonly<Record<string, string | undefined>>): SpanExporter | undefined {
  const kinds = (env["OTEL_TRACES_EXPORTER"] ?? "").split(",").map((s) => s.trim());
  if (kinds.includes("none")) return undefined;
  if (kinds.includes("console")) return new ConsoleSpanExporter();
  if (kinds.includes("otlp") || env["OTEL_EXPORTER_OTLP_ENDPOINT"] !== undefined || env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] !== undefined) {
    return new OTLPTraceExporter();
  }
  return undefined;
}
