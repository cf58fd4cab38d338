/**
 * W4's daprd-direct path: a Node publisher and one subscriber on daprd itself, no gateway —
 * PublishEvent over gRPC at `rate` (the send time in a JSON payload) and a streaming subscription
 * (SubscribeTopicEventsAlpha1) acking each event at once, on the same daprd components the gateway
 * uses (Redis Streams with concurrency 1, or JetStream). It shows what the sidecar path itself
 * delivers, so the gateway's share of W4 can be told from daprd's.
 */
import { TopicEventResponse_TopicEventResponseStatus as AckStatus } from "@dapr/dapr/proto/dapr/proto/runtime/v1/appcallback_pb.js";
import { Dapr } from "@dapr/dapr/proto/dapr/proto/runtime/v1/dapr_pb.js";
import { GrpcUnaryClient } from "../../src/dapr/sidecar/grpc-unary-client.js";
import { LogHistogram } from "../lib/histogram.js";
import { openLoop } from "../lib/open-loop.js";
import type { BrokerLatencyResult } from "./brokers-direct.js";

const nowMs = () => performance.timeOrigin + performance.now();

export async function daprdStreamLatency(a: {
  grpcPort: number;
  pubsub: string;
  topic: string;
  rate: number;
  warmupMs: number;
  durationMs: number;
  payloadBytes: number;
}): Promise<BrokerLatencyResult & { publishErrors: number; inFlightSkipped: number }> {
  const client = new GrpcUnaryClient(`http://127.0.0.1:${a.grpcPort}`);
  const latency = new LogHistogram();
  const decoder = new TextDecoder();
  let recording = false;
  let received = 0;
  let published = 0;
  let publishErrors = 0;
  let inFlight = 0;
  let inFlightSkipped = 0;
  const pad = "x".repeat(Math.max(0, a.payloadBytes - 40));
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => (connected = resolve));
  let ended!: (err: unknown) => void;
  const done = new Promise<unknown>((resolve) => (ended = resolve));
  const call = client.bidi(Dapr.method.subscribeTopicEventsAlpha1, {
    onMessage(res) {
      const m = res.subscribeTopicEventsResponseType;
      if (m.case === "initialResponse") return connected();
      if (m.case !== "eventMessage") return;
      const now = nowMs();
      call.send({ subscribeTopicEventsRequestType: { case: "eventProcessed", value: { id: m.value.id, status: { status: AckStatus.SUCCESS } } } });
      if (!recording) return;
      // daprd hands over the CloudEvent's data: our JSON payload, as bytes.
      const t = (JSON.parse(decoder.decode(m.value.data)) as { t?: number }).t;
      if (typeof t !== "number") return;
      received++;
      latency.record((now - t) * 1000);
    },
    onEnd: (err) => ended(err),
  });
  call.send({ subscribeTopicEventsRequestType: { case: "initialRequest", value: { pubsubName: a.pubsub, topic: a.topic, metadata: {} } } });
  await Promise.race([ready, done.then((err) => Promise.reject(new Error(`the daprd subscription ended before it started: ${String(err)}`)))]);
  const encoder = new TextEncoder();
  const send = () => {
    // Open loop, as the gateway's publisher does: at most 500 in flight.
    if (inFlight >= 500) {
      inFlightSkipped++;
      return;
    }
    if (recording) published++;
    inFlight++;
    const data = encoder.encode(JSON.stringify({ t: Number(nowMs().toFixed(3)), p: pad }));
    const signal = AbortSignal.timeout(10_000);
    client
      .call(Dapr.method.publishEvent, { pubsubName: a.pubsub, topic: a.topic, data, dataContentType: "application/json", metadata: {} }, signal)
      .catch(() => publishErrors++)
      .finally(() => inFlight--);
  };
  await openLoop(a.rate, a.warmupMs, send);
  recording = true;
  const elapsedMs = await openLoop(a.rate, a.durationMs, send);
  await new Promise((r) => setTimeout(r, 500));
  recording = false;
  call.cancel();
  await done;
  client.close();
  return { published, received, elapsedMs, latency: latency.toJSON(), publishErrors, inFlightSkipped };
}
