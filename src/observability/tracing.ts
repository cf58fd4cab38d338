/**
 * Traces through the OpenTelemetry API only: a server span per RPC named `<service>/<method>`,
 * a producer span per publish whose W3C trace context travels inside the event's CloudEvents
 * metadata (`traceparent`), and a consumer span per delivery continuing that trace, so one trace
 * runs from a publisher through the gateway and the broker to the event a subscriber receives.
 * Without a registered tracer provider (see telemetry-setup.ts) every call here is a no-op.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from "@opentelemetry/api";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { rpcName } from "../server/rpc-name.js";
import { whenStreamEnds } from "../server/stream-end.js";

const tracer = () => trace.getTracer("virtufin-api");

const headerGetter = {
  keys: (carrier: Headers) => [...carrier.keys()],
  get: (carrier: Headers, key: string) => carrier.get(key) ?? undefined,
};

/** The server span of each RPC, parented on the caller's `traceparent` header. */
export function tracingInterceptor(): Interceptor {
  return (next) => async (req) => {
    const parent = propagation.extract(context.active(), req.header, headerGetter);
    const attributes: Attributes = { "rpc.system": "connect_rpc", "rpc.service": req.service.typeName, "rpc.method": req.method.name };
    const span = tracer().startSpan(rpcName(req.service, req.method), { kind: SpanKind.SERVER, attributes }, parent);
    try {
      const res = await context.with(trace.setSpan(parent, span), () => next(req));
      if (!res.stream) {
        endSpan(span);
        return res;
      }
      return { ...res, message: endSpanWhenStreamEnds(res.message, span) };
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  };
}

/**
 * The stream's messages, ending the span when the stream ends. A function of its own so that the
 * watcher closes over the span only: one made inside the interceptor would keep the whole request
 * for as long as the stream lives.
 */
function endSpanWhenStreamEnds<T>(messages: AsyncIterable<T>, span: Span): AsyncIterable<T> {
  return whenStreamEnds(messages, (failed, err) => {
    endSpan(span, failed ? err : undefined);
    return err;
  });
}

/** Ends an RPC's server span with the call's status code. */
function endSpan(span: Span, err?: unknown): void {
  const code = err === undefined ? 0 : ConnectError.from(err).code;
  span.setAttribute("rpc.grpc.status_code", code);
  if (err !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: Code[code] ?? "error" });
  span.end();
}

/** Runs a publish in a producer span and writes its trace context into the event's metadata. */
export async function inPublishSpan<T>(topic: string, metadata: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(`publish ${topic}`, { kind: SpanKind.PRODUCER, attributes: { "messaging.destination.name": topic } }, async (span: Span) => {
    if (metadata["traceparent"] === undefined) propagation.inject(context.active(), metadata);
    try {
      return await fn();
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Runs the local fan-out of a received event in a consumer span continuing the publisher's trace. */
export function inDeliverySpan(event: StreamEvent, fn: () => void): void {
  const parent = propagation.extract(context.active(), event.metadata);
  const span = tracer().startSpan(`deliver ${event.topic}`, { kind: SpanKind.CONSUMER, attributes: { "messaging.destination.name": event.topic, "messaging.message.id": event.messageId } }, parent);
  try {
    context.with(trace.setSpan(parent, span), fn);
  } finally {
    span.end();
  }
}

/** Passes the active trace context on to an outgoing call (the Dapr sidecar). */
export function propagateToOutgoing(): Interceptor {
  return (next) => (req) => {
    propagation.inject(context.active(), req.header, { set: (carrier: Headers, key: string, value: string) => carrier.set(key, value) });
    return next(req);
  };
}
