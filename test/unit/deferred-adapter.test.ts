/**
 * The backend is loaded by start(), not when the app is built, and only the configured one: a
 * gateway on the embedded backend never loads the Dapr adapter's module, and one on Dapr never
 * loads lmdb. Calls before start() are refused with NotReadyError rather than lost.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { StreamEventSchema } from "../../gen/virtufin/api/v1/common_pb.js";
import type { DaprAdapter, StoredValue } from "../../src/dapr/adapter.js";
import { DeferredAdapter } from "../../src/dapr/deferred-adapter.js";
import { NotReadyError } from "../../src/errors.js";

/** A backend that records what it was asked (a stand-in: what is tested is the forwarding). */
function recordingBackend(calls: string[]): DaprAdapter {
  const stored: StoredValue = { value: "v", etag: "1" };
  return {
    kind: "embedded",
    start: async () => void calls.push("start"),
    getState: async (store, service, key) => (calls.push(`getState ${store} ${service} ${key}`), stored),
    getBulkState: async (_store, _service, keys) => (calls.push(`getBulkState ${keys.join(",")}`), new Map([["a", stored]])),
    saveState: async (_s, _svc, key, value, etag) => void calls.push(`saveState ${key} ${value} ${etag}`),
    deleteState: async (_s, _svc, key, etag) => void calls.push(`deleteState ${key} ${etag}`),
    addToIndex: async (_s, _svc, keys) => void calls.push(`addToIndex ${keys.join(",")}`),
    readIndex: async () => (calls.push("readIndex"), ["a", "b"]),
    publish: async (pubsub, topic, event) => void calls.push(`publish ${pubsub} ${topic} ${event.messageId}`),
    subscribe: (pubsub, topic) => (calls.push(`subscribe ${pubsub} ${topic}`), { close: async () => void calls.push("subscription closed") }),
    close: async () => void calls.push("close"),
  };
}

describe("DeferredAdapter", () => {
  it("refuses every call before start() with NotReadyError, then forwards each one to the loaded backend", async () => {
    const calls: string[] = [];
    let loads = 0;
    const adapter = new DeferredAdapter("embedded", async () => (loads++, recordingBackend(calls)));
    assert.equal(loads, 0, "nothing is loaded when the adapter is built");
    await assert.rejects(adapter.getState("s", "svc", "k"), NotReadyError);
    await assert.rejects(adapter.publish("p", "t", create(StreamEventSchema, {})), NotReadyError);
    assert.throws(() => adapter.subscribe("p", "t", { onEvent: () => {}, onStatus: () => {} }), NotReadyError);
    assert.equal(adapter.backend, undefined);

    await Promise.all([adapter.start(), adapter.start()]);
    assert.equal(loads, 1, "two starts load the backend once");
    assert.deepEqual((await adapter.getState("store", "svc", "k"))?.value, "v");
    assert.deepEqual([...(await adapter.getBulkState("store", "svc", ["a"])).keys()], ["a"]);
    await adapter.saveState("store", "svc", "k", "x", "3");
    await adapter.deleteState("store", "svc", "k", undefined);
    await adapter.addToIndex("store", "svc", ["k", "l"]);
    assert.deepEqual(await adapter.readIndex("store", "svc"), ["a", "b"]);
    await adapter.publish("pubsub", "topic", create(StreamEventSchema, { messageId: "m1" }));
    await adapter.subscribe("pubsub", "topic", { onEvent: () => {}, onStatus: () => {} }).close();
    await adapter.close();
    assert.deepEqual(calls, [
      "start",
      "start",
      "getState store svc k",
      "getBulkState a",
      "saveState k x 3",
      "deleteState k undefined",
      "addToIndex k,l",
      "readIndex",
      "publish pubsub topic m1",
      "subscribe pubsub topic",
      "subscription closed",
      "close",
    ]);
  });

  it("closes a backend that finished loading after close() and refuses to start", async () => {
    const calls: string[] = [];
    let release!: () => void;
    const loaded = new Promise<void>((resolve) => (release = resolve));
    const adapter = new DeferredAdapter("dapr", async () => (await loaded, recordingBackend(calls)));
    const starting = adapter.start();
    await adapter.close();
    release();
    await assert.rejects(starting, NotReadyError);
    assert.deepEqual(calls, ["close"], "the late backend is closed, never started");
  });

  it("a started gateway loads only its own backend's module", () => {
    const app = fileURLToPath(new URL("../../src/app.ts", import.meta.url));
    const support = fileURLToPath(new URL("../support/gateway.ts", import.meta.url));
    for (const backend of ["embedded", "dapr"] as const) {
      // Records every module the app resolves (a module.register hook), starts the app with the
      // backend (Dapr on a closed port, so start() fails after loading), and prints the record.
      const script = `
        import { register } from "node:module";
        import { MessageChannel } from "node:worker_threads";
        const { port1, port2 } = new MessageChannel();
        const seen = [];
        port1.on("message", (url) => seen.push(url));
        port1.unref();
        register("data:text/javascript," + encodeURIComponent("let port; export function initialize(d) { port = d.port; } export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r; }"), { data: { port: port2 }, transferList: [port2] });
        const { createApp } = await import(${JSON.stringify(app)});
        const { testConfig, tempDir } = await import(${JSON.stringify(support)});
        const dir = tempDir();
        const gw = createApp(testConfig({ dataDir: dir.path, backend: "${backend}", daprGrpcPort: 1, daprStartupTimeoutMs: 200 }));
        await gw.start().catch(() => {});
        await new Promise((r) => setTimeout(r, 200));
        await gw.stop().catch(() => {});
        dir.remove();
        console.log(JSON.stringify(seen.filter((u) => /sidecar-adapter|embedded-adapter|\\/lmdb\\/|@dapr\\/dapr/.test(u)).map((u) => u.replace(/.*\\/(src|node_modules)\\//, ""))));
      `;
      const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
      const lines = child.stdout.trim().split("\n");
      const loaded = JSON.parse(lines[lines.length - 1] ?? "[]") as string[];
      const has = (pattern: RegExp) => loaded.some((u) => pattern.test(u));
      if (backend === "embedded") {
        assert.ok(has(/embedded-adapter/), `embedded: ${child.stdout} ${child.stderr.slice(0, 2000)}`);
        assert.ok(!has(/sidecar-adapter|@dapr\/dapr/), `embedded loaded the Dapr adapter: ${loaded.join(" ")}`);
      } else {
        assert.ok(has(/sidecar-adapter/), `dapr: ${child.stdout} ${child.stderr.slice(0, 2000)}`);
        assert.ok(!has(/embedded-adapter|\/lmdb\//), `dapr loaded the embedded store: ${loaded.join(" ")}`);
      }
    }
  });
});
