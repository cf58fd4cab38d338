/**
 * Backpressure and cleanup with real HTTP/2 streams: a subscriber that stops reading is cut as a
 * slow consumer without slowing the others; a blocked subscriber that disconnects is removed at
 * once. Memory stays bounded: no subscriber queue ever holds more than the configured buffer.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Gateway, SubscribeRequestSchema } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { decodeJson, eventually, openStream, startGateway, type RunningGateway } from "../support/gateway.js";
import { scrape } from "../support/metrics.js";
import { grpcFrame, openRawGrpcStream } from "../support/raw-http2.js";

const BUFFER = 50;
const EVENTS = 400;
const PAYLOAD = "x".repeat(4096);

describe("slow consumers", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ subscriberBufferSize: BUFFER, slowConsumerGraceMs: 3000 });
  });
  after(async () => {
    await gw.stop();
  });

  async function publishAll(topic: string, count: number): Promise<void> {
    const pubsub = createClient(Pubsub, createGrpcTransport({ baseUrl: gw.baseUrl }));
    for (let seq = 0; seq < count; seq++) {
      await pubsub.publishEvent({
        service: "workmanager",
        topic,
        data: new TextEncoder().encode(JSON.stringify({ seq, pad: PAYLOAD })),
      });
    }
  }

  it("cuts a subscriber that never reads with RESOURCE_EXHAUSTED while the others get every event", async () => {
    const topic = "workmanager.slow-a";
    const stats = () => gw.app.deps.subscribers.stats;
    const session = http2.connect(gw.baseUrl);
    try {
      const slow = openRawGrpcStream(session, "/virtufin.api.v1.Gateway/Subscribe", grpcFrame(SubscribeRequestSchema, { topics: [topic] }));
      await slow.headers;
      slow.stream.pause(); // never read: the HTTP/2 window fills and the gateway's writes block
      const normal = await openStream(createGrpcTransport({ baseUrl: gw.baseUrl }), Gateway.method.subscribe, { topics: [topic] });
      const received: number[] = [];
      const reading = (async () => {
        for (;;) {
          const ev = await normal.next(10_000);
          if (ev === undefined) return;
          received.push((decodeJson(ev.data) as { seq: number }).seq);
          if (received.length === EVENTS) return;
        }
      })();
      assert.equal(stats().active, 2);
      const cutBefore = stats().slowConsumersCut;
      const droppedBefore = await scrape(gw.baseUrl, "virtufin_events_dropped_total");
      const receivedBefore = await scrape(gw.baseUrl, "virtufin_events_received_total");

      await publishAll(topic, EVENTS);
      await reading;
      normal.close();

      assert.deepEqual(received, Array.from({ length: EVENTS }, (_, i) => i), "the reading subscriber got every event in order");
      assert.equal(stats().slowConsumersCut, cutBefore + 1, "the slow subscriber was cut once");
      assert.equal(await scrape(gw.baseUrl, "virtufin_subscribers_slow_consumers_cut_total"), cutBefore + 1, "and the metric counts it");
      assert.equal(await scrape(gw.baseUrl, "virtufin_events_received_total"), receivedBefore + EVENTS, "each published event was received from the backend once");
      assert.equal(await scrape(gw.baseUrl, "virtufin_events_dropped_total"), droppedBefore + BUFFER + 1, "the cut subscriber's full queue and the event that overflowed it were dropped");
      assert.ok(stats().maxQueueDepth <= BUFFER, `queue depth ${stats().maxQueueDepth} stayed within ${BUFFER}`);
      await eventually(() => stats().active === 0, "both subscribers to leave the registry");

      // Once it reads again it drains what was in flight and sees the status.
      slow.stream.resume();
      const end = await slow.closed;
      assert.equal(end.trailers["grpc-status"], "8", `trailers: ${JSON.stringify(end.trailers)}`);
      assert.match(decodeURIComponent(String(end.trailers["grpc-message"])), /slow consumer/);
      assert.ok(end.bytes < (BUFFER + 64) * (PAYLOAD.length + 512), `it received only what fit in flight (${end.bytes} bytes)`);
    } finally {
      session.destroy();
    }
  });

  it("resets a cut subscriber that still never reads once the grace period is over", async () => {
    const topic = "workmanager.slow-b";
    const session = http2.connect(gw.baseUrl);
    try {
      const slow = openRawGrpcStream(session, "/virtufin.api.v1.Gateway/Subscribe", grpcFrame(SubscribeRequestSchema, { topics: [topic] }));
      await slow.headers;
      slow.stream.pause();
      await publishAll(topic, EVENTS);
      const end = await slow.closed;
      assert.equal(end.rstCode, http2.constants.NGHTTP2_CANCEL, "the gateway reset the stream");
      assert.equal(gw.app.deps.subscribers.stats.active, 0);
    } finally {
      session.destroy();
    }
  });

  it("removes a subscriber blocked on a slow read as soon as its client disconnects", async () => {
    const topic = "workmanager.slow-c";
    const big = await startGateway({ subscriberBufferSize: 100_000 });
    try {
      const session = http2.connect(big.baseUrl);
      const slow = openRawGrpcStream(session, "/virtufin.api.v1.Gateway/Subscribe", grpcFrame(SubscribeRequestSchema, { topics: [topic] }));
      await slow.headers;
      slow.stream.pause();
      const pubsub = createClient(Pubsub, createGrpcTransport({ baseUrl: big.baseUrl }));
      for (let seq = 0; seq < 200; seq++) {
        await pubsub.publishEvent({ service: "workmanager", topic, data: new TextEncoder().encode(PAYLOAD) });
      }
      const stats = () => big.app.deps.subscribers.stats;
      assert.equal(stats().active, 1);
      assert.equal(stats().slowConsumersCut, 0, "not cut: its buffer is large");
      assert.ok(stats().maxQueueDepth > 100, "its writes really were blocked");
      session.destroy(); // TCP close while the gateway's write is blocked
      await eventually(() => stats().active === 0, "the blocked subscriber to be removed", 40, 25);
      assert.equal(big.app.deps.topics.snapshot().some((s) => s.topic === topic), false, "its backend subscription was released");
    } finally {
      await big.stop();
    }
  });
});
