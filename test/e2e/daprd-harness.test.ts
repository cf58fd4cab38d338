/**
 * The Dapr test fixtures themselves (test/support/daprd.ts, test/support/brokers.ts) against the
 * real parts: a daprd over Redis (state + Redis Streams pub/sub), a daprd over NATS JetStream
 * pub/sub, kill -9 and restart on the same ports, and the skip rule (skip with a reason locally,
 * fail on CI). Everything is run-unique and removed afterwards; Redis and NATS are shared.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { createJetStreamStream, deleteRedisKeys, redisClient, withJetStreamManager } from "../support/brokers.js";
import { componentFiles, daprdBinary, daprdGate, requireDaprd, startDaprd, type Daprd } from "../support/daprd.js";

const gate = daprdGate();
const run = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

async function healthz(d: Daprd): Promise<number | undefined> {
  return fetch(`${d.httpUrl}/v1.0/healthz`, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.status,
    () => undefined,
  );
}

async function post(d: Daprd, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${d.httpUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, text: await res.text() };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("the skip rule (no daprd needed)", () => {
  function withEnv<T>(env: Record<string, string | undefined>, fn: () => T): T {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      return fn();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }
  const missing = `/nonexistent/${run}/daprd`;

  it("skips with a reason when the binary is missing and CI is not true", () => {
    withEnv({ DAPRD_BIN: missing, CI: undefined }, () => {
      assert.equal(daprdBinary(), undefined);
      const g = requireDaprd();
      assert.equal(g.binary, undefined);
      assert.match(String(g.skip), /daprd .*DAPRD_BIN=.*build\.sh/);
      let skipped: string | undefined;
      requireDaprd({ skip: (m) => (skipped = m) });
      assert.equal(skipped, g.skip, "t.skip(reason) is called with the same reason");
    });
  });

  it("throws instead of skipping when CI=true", () => {
    withEnv({ DAPRD_BIN: missing, CI: "true" }, () => {
      assert.throws(() => daprdGate(), /CI=true/);
    });
  });

  it("does not skip when DAPRD_BIN points at an executable", () => {
    withEnv({ DAPRD_BIN: process.execPath, CI: "true" }, () => {
      assert.deepEqual(requireDaprd(), { binary: process.execPath, skip: false });
    });
  });

  it("builds the components from the shipped files, with the pub/sub named `pubsub`", () => {
    const redis = componentFiles({ pubsub: "redis" });
    assert.match(redis["statestore.yaml"]!, /type: state\.redis[\s\S]*name: keyPrefix\s*\n\s*value: "none"/);
    assert.match(redis["pubsub.yaml"]!, /name: pubsub\n[\s\S]*type: pubsub\.redis[\s\S]*value: "\{appID\}"[\s\S]*maxLenApprox/);
    const js = componentFiles({ pubsub: "jetstream", keyPrefix: "appid" });
    assert.match(js["statestore.yaml"]!, /name: keyPrefix\s*\n\s*value: "appid"/);
    assert.match(js["pubsub.yaml"]!, /\n {2}name: pubsub\n/);
    assert.doesNotMatch(js["pubsub.yaml"]!, /name: pubsub-jetstream/);
    assert.match(js["pubsub.yaml"]!, /type: pubsub\.jetstream[\s\S]*nats:\/\/127\.0\.0\.1:4222[\s\S]*deliverPolicy\s*\n\s*value: "new"[\s\S]*ackPolicy\s*\n\s*value: "explicit"/);
  });
});

describe("daprd fixtures against real Redis and NATS", { skip: gate.skip }, () => {
  const prefix = `h-${run}`;
  const daprds: Daprd[] = [];
  let deleteStream: (() => Promise<void>) | undefined;
  const redis = redisClient();

  after(async () => {
    for (const d of daprds) await d.stop();
    await deleteStream?.();
    await deleteRedisKeys(redis, `${prefix}*`);
    redis.disconnect();
  });

  describe("with Redis Streams pub/sub", () => {
    let d: Daprd;
    before(async () => {
      d = await startDaprd({ appId: `vfh-${run}-r`, pubsub: "redis" });
      daprds.push(d);
    });

    it("is healthy on loopback ports of its own", async (t) => {
      t.diagnostic(`daprd healthy ${d.readyMs} ms after spawn (grpc ${d.grpcPort}, http ${d.httpPort}, internal ${d.internalGrpcPort})`);
      assert.equal(await healthz(d), 204);
      assert.equal(new Set([d.grpcPort, d.httpPort, d.internalGrpcPort]).size, 3);
      assert.ok(alive(d.pid));
      assert.match(d.log(), /dapr initialized/i);
      const meta = (await (await fetch(`${d.httpUrl}/v1.0/metadata`)).json()) as { id: string; components: { name: string; type: string }[] };
      assert.equal(meta.id, `vfh-${run}-r`);
      assert.deepEqual(
        meta.components.map((c) => `${c.name}=${c.type}`).sort(),
        ["pubsub=pubsub.redis", "statestore=state.redis"],
      );
    });

    it("saves state that a plain Redis client reads back with HGET <key> data", async () => {
      const key = `${prefix}-k1`;
      const saved = await post(d, "/v1.0/state/statestore", [{ key, value: { n: 1, s: "x" } }]);
      assert.equal(saved.status, 204, saved.text);
      // Dapr's HTTP API re-serialises JSON values (Go map order), so compare the parsed value.
      assert.deepEqual(JSON.parse((await redis.hget(key, "data")) ?? "null"), { n: 1, s: "x" });
      assert.equal(await redis.hget(key, "version"), "1");
      const back = await fetch(`${d.httpUrl}/v1.0/state/statestore/${encodeURIComponent(key)}`);
      assert.deepEqual(await back.json(), { n: 1, s: "x" });
    });

    it("publishes into a Redis stream named after the topic", async () => {
      const topic = `${prefix}.orders`;
      const res = await post(d, `/v1.0/publish/pubsub/${encodeURIComponent(topic)}`, { hello: run });
      assert.equal(res.status, 204, res.text);
      assert.equal(await redis.xlen(topic), 1);
      const entries = await redis.xrange(topic, "-", "+");
      const fields = entries[0]![1];
      const event = JSON.parse(fields[fields.indexOf("data") + 1]!) as { data: unknown; topic: string };
      assert.deepEqual(event.data, { hello: run });
      assert.equal(event.topic, topic);
    });

    it("comes back on the same ports after kill -9 and restart()", async (t) => {
      const oldPid = d.pid;
      await d.kill("SIGKILL");
      assert.equal(d.running, false);
      assert.equal(alive(oldPid), false);
      assert.equal(await healthz(d), undefined, "nothing listens while it is down");
      await d.restart();
      t.diagnostic(`daprd healthy again ${d.readyMs} ms after the restart's spawn`);
      assert.notEqual(d.pid, oldPid);
      assert.equal(await healthz(d), 204);
      const back = await fetch(`${d.httpUrl}/v1.0/state/statestore/${encodeURIComponent(`${prefix}-k1`)}`);
      assert.deepEqual(await back.json(), { n: 1, s: "x" }, "same components after the restart");
      assert.match(d.log(), /\[fixture\] start .* restart/);
    });

    it("stop() ends daprd and removes its temp components dir", async () => {
      const pid = d.pid;
      await d.stop();
      assert.equal(alive(pid), false);
      assert.equal(existsSync(d.componentsDir), false);
      await d.stop(); // idempotent
    });
  });

  describe("with NATS JetStream pub/sub", () => {
    const stream = `VFH_${run}`;
    let d: Daprd;
    before(async () => {
      deleteStream = await createJetStreamStream(stream, [`${run}.>`]);
      d = await startDaprd({ appId: `vfh-${run}-j`, pubsub: "jetstream" });
      daprds.push(d);
    });

    it("publishes to a subject the stream covers", async () => {
      const res = await post(d, `/v1.0/publish/pubsub/${run}.x`, { hello: run });
      assert.ok(res.status >= 200 && res.status < 300, `${res.status} ${res.text}`);
      const info = await withJetStreamManager((jsm) => jsm.streams.info(stream));
      assert.equal(info.state.messages, 1);
    });

    it("fails to publish to a subject no stream covers", async () => {
      const res = await post(d, `/v1.0/publish/pubsub/${run}-outside.x`, { hello: run });
      assert.ok(res.status >= 400, `${res.status} ${res.text}`);
      assert.match(res.text, /no response from stream|no responders/i);
    });
  });
});
