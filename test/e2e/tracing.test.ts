/**
 * One trace from a publisher through the gateway and the broker to the subscriber: the spans are
 * collected with an in-memory exporter (registered in this test process only).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { setupTelemetry, type TracingSetup } from "../../src/observability/telemetry-setup.js";
import { openStream, startGateway, type RunningGateway } from "../support/gateway.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

describe("tracing", () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: TracingSetup;
  let gw: RunningGateway;
  before(async () => {
    telemetry = setupTelemetry({}, exporter);
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
    await telemetry.shutdown();
  });

  it("runs one trace from PublishEvent through the backend publish to the subscriber's delivery", async () => {
    const topic = "workmanager.traced";
    const stream = await openStream(createGrpcTransport({ baseUrl: gw.baseUrl }), Pubsub.method.subscribe, { service: "workmanager", topic });
    try {
      const traceparent: Interceptor = (next) => (req) => (req.header.set("traceparent", `00-${TRACE_ID}-00f067aa0ba902b7-01`), next(req));
      const pubsub = createClient(Pubsub, createGrpcTransport({ baseUrl: gw.baseUrl, interceptors: [traceparent] }));
      await pubsub.publishEvent({ service: "workmanager", topic, data: new TextEncoder().encode("{}") });
      const event = await stream.next();
      assert.match(event?.metadata["traceparent"] ?? "", new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`), "the delivered event carries the trace");
    } finally {
      stream.close();
    }
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === TRACE_ID);
    const names = spans.map((s) => s.name);
    for (const name of ["virtufin.api.v1.Pubsub/PublishEvent", `publish ${topic}`, `deliver ${topic}`]) {
      assert.ok(names.includes(name), `span ${name} in the trace (got ${names.join(", ")})`);
    }
    const server = spans.find((s) => s.name === "virtufin.api.v1.Pubsub/PublishEvent")!;
    const produce = spans.find((s) => s.name === `publish ${topic}`)!;
    const deliver = spans.find((s) => s.name === `deliver ${topic}`)!;
    assert.equal(produce.parentSpanContext?.spanId, server.spanContext().spanId, "the publish is a child of the RPC");
    assert.equal(deliver.parentSpanContext?.spanId, produce.spanContext().spanId, "the delivery continues the publish");
    assert.equal(server.attributes["rpc.grpc.status_code"], 0);
  });
});
