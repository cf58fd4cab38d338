/**
 * Baselines without the gateway, run inside the load generator: Node calling Redis directly
 * (ioredis), a publisher and a subscriber on Redis Streams directly, the same on NATS JetStream,
 * and a core NATS publish probe (W6).
 */
import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { Redis } from "ioredis";
import { createJetStreamStream, natsConnect, REDIS_HOST, REDIS_PORT } from "../../test/support/brokers.js";
import { LogHistogram, type HistogramJson } from "../lib/histogram.js";
import { openLoop } from "../lib/open-loop.js";
import { selfUsage } from "../lib/proc.js";
import type { UnaryResult } from "./client.js";

function redis(): Redis {
  return new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 2, connectTimeout: 5000 });
}

const nowMs = () => performance.timeOrigin + performance.now();

/** Runs `send(i)` open-loop at `rate` per second for `ms`; resolves with the elapsed time. */

/** GET or SET of `valueBytes`-byte values on `conns` ioredis connections, open-loop at `rate`. */
export async function redisDirectUnary(a: {
  op: "get" | "save";
  keyPrefix: string;
  keyCount: number;
  valueBytes: number;
  conns: number;
  rate: number;
  warmupMs: number;
  durationMs: number;
}): Promise<UnaryResult> {
  const clients = Array.from({ length: a.conns }, () => redis());
  const value = "x".repeat(a.valueBytes);
  // Seed the keys so GET finds values.
  await Promise.all(Array.from({ length: a.keyCount }, (_, i) => clients[0]!.set(`${a.keyPrefix}${i}`, value, "EX", 600)));
  const latency = new LogHistogram();
  let recording = false;
  let count = 0;
  let errors = 0;
  let errorSample: string | undefined;
  let inflight = 0;
  let next = 0;
  const send = (intended: number) => {
    const i = next++;
    const c = clients[i % clients.length]!;
    const key = `${a.keyPrefix}${i % a.keyCount}`;
    const record = recording;
    inflight++;
    const p = a.op === "get" ? c.get(key) : c.set(key, value, "EX", 600);
    p.then(
      () => {
        inflight--;
        if (record && recording) {
          count++;
          latency.record((performance.now() - intended) * 1000);
        }
      },
      (err: unknown) => {
        inflight--;
        if (record && recording) {
          errors++;
          errorSample ??= String(err);
        }
      },
    );
  };
  await openLoop(a.rate, a.warmupMs, send);
  recording = true;
  const elapsedMs = await openLoop(a.rate, a.durationMs, send);
  const until = performance.now() + 5000;
  while (inflight > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
  recording = false;
  await clients[0]!.del(...Array.from({ length: a.keyCount }, (_, i) => `${a.keyPrefix}${i}`));
  for (const c of clients) c.disconnect();
  return { count, errors, errorSample, dropped: 0, elapsedMs, latency: latency.toJSON(), client: selfUsage() };
}

export interface BrokerLatencyResult {
  published: number;
  received: number;
  elapsedMs: number;
  latency: HistogramJson;
}

/** XADD at `rate` (payload: send time) and XREAD BLOCK by one subscriber: publish-to-deliver on Redis Streams. */
export async function redisStreamsLatency(a: { rate: number; warmupMs: number; durationMs: number; payloadBytes: number }): Promise<BrokerLatencyResult> {
  const key = `bench-w4-${randomUUID()}`;
  const pub = redis();
  const sub = redis();
  const latency = new LogHistogram();
  let recording = false;
  let received = 0;
  let published = 0;
  let reading = true;
  const pad = "x".repeat(Math.max(0, a.payloadBytes - 40));
  const reader = (async () => {
    let last = "$";
    while (reading) {
      const res = (await sub.xread("COUNT", 1000, "BLOCK", 200, "STREAMS", key, last)) as [string, [string, string[]][]][] | null;
      const now = nowMs();
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          last = id;
          const t = (JSON.parse(fields[1] ?? "{}") as { t?: number }).t;
          if (recording && typeof t === "number") {
            received++;
            latency.record((now - t) * 1000);
          }
        }
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 300)); // the first XREAD "$" is in place
  const send = () => {
    if (recording) published++;
    void pub.xadd(key, "MAXLEN", "~", "100000", "*", "d", JSON.stringify({ t: Number(nowMs().toFixed(3)), p: pad }));
  };
  await openLoop(a.rate, a.warmupMs, send);
  recording = true;
  const elapsedMs = await openLoop(a.rate, a.durationMs, send);
  await new Promise((r) => setTimeout(r, 500));
  recording = false;
  reading = false;
  await reader;
  await pub.del(key);
  pub.disconnect();
  sub.disconnect();
  return { published, received, elapsedMs, latency: latency.toJSON() };
}

/** js.publish at `rate` and an ordered consumer: publish-to-deliver on NATS JetStream. */
export async function jetstreamLatency(a: { rate: number; warmupMs: number; durationMs: number; payloadBytes: number }): Promise<BrokerLatencyResult> {
  const run = randomUUID().slice(0, 8);
  const subject = `benchw4${run}.events`;
  const deleteStream = await createJetStreamStream(`BENCH_W4_${run}`, [`benchw4${run}.>`]);
  const nc = await natsConnect("virtufin-api bench w4");
  const latency = new LogHistogram();
  let recording = false;
  let received = 0;
  let published = 0;
  try {
    const js = jetstream(nc);
    const consumer = await js.consumers.get(`BENCH_W4_${run}`);
    const messages = await consumer.consume();
    const reader = (async () => {
      for await (const m of messages) {
        const t = (JSON.parse(new TextDecoder().decode(m.data)) as { t?: number }).t;
        if (recording && typeof t === "number") {
          received++;
          latency.record((nowMs() - t) * 1000);
        }
      }
    })();
    const pad = "x".repeat(Math.max(0, a.payloadBytes - 40));
    const send = () => {
      if (recording) published++;
      void js.publish(subject, JSON.stringify({ t: Number(nowMs().toFixed(3)), p: pad })).catch(() => undefined);
    };
    await openLoop(a.rate, a.warmupMs, send);
    recording = true;
    const elapsedMs = await openLoop(a.rate, a.durationMs, send);
    await new Promise((r) => setTimeout(r, 500));
    recording = false;
    await messages.close();
    await reader.catch(() => undefined);
    return { published, received, elapsedMs, latency: latency.toJSON() };
  } finally {
    await nc.close();
    await deleteStream();
  }
}

/** Core NATS: publish `messages` messages of `payloadBytes` bytes and flush; messages per second. */
export async function natsPublishProbe(a: { messages: number; payloadBytes: number }): Promise<{ rate: number; elapsedMs: number }> {
  const nc = await natsConnect("virtufin-api bench probe");
  try {
    const subject = `benchprobe.${randomUUID().slice(0, 8)}`;
    const data = new Uint8Array(a.payloadBytes);
    const started = performance.now();
    for (let i = 0; i < a.messages; i++) {
      nc.publish(subject, data);
      if (i % 10_000 === 9_999) await nc.flush();
    }
    await nc.flush();
    const elapsedMs = performance.now() - started;
    return { rate: (a.messages * 1000) / elapsedMs, elapsedMs };
  } finally {
    await nc.close();
  }
}
