/**
 * Persistence of the embedded default: save, stop the process, start it again on the same data
 * directory, and read back the same value and ETag; the key index survives too.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { tempDir } from "../support/gateway.js";
import { spawnGateway } from "../support/process.js";

describe("restart", () => {
  it("keeps every key, value and ETag across a stop and start", async () => {
    const dir = tempDir();
    try {
      const first = await spawnGateway(["--data-dir", dir.path]);
      const client1 = createClient(State, createConnectTransport({ baseUrl: first.baseUrl, httpVersion: "1.1" }));
      await client1.saveState({ service: "workmanager", key: "persisted", value: '{"a":"⏱️"}' });
      await client1.saveState({ service: "workmanager", key: "second", value: "2" });
      const before = await client1.getState({ service: "workmanager", key: "persisted" });
      assert.equal(await first.stop("SIGTERM"), 0, `clean exit:\n${first.output()}`);
      assert.match(first.output(), /"msg":"stopped"/);

      const second = await spawnGateway(["--data-dir", dir.path]);
      try {
        const client2 = createClient(State, createConnectTransport({ baseUrl: second.baseUrl, httpVersion: "1.1" }));
        const after = await client2.getState({ service: "workmanager", key: "persisted" });
        assert.deepEqual([after.value, after.etag, after.found], [before.value, before.etag, true]);
        const all = await client2.getAllState({ service: "workmanager" });
        assert.deepEqual(all.values, { persisted: '{"a":"⏱️"}', second: "2" });
        // ETags keep growing after a restart: a new write never reuses an old ETag.
        await client2.saveState({ service: "workmanager", key: "persisted", value: "new", etag: before.etag });
        const next = await client2.getState({ service: "workmanager", key: "persisted" });
        assert.ok(Number(next.etag) > Number(all.etags["second"]), `${next.etag} > ${all.etags["second"]}`);
      } finally {
        await second.stop();
      }
    } finally {
      dir.remove();
    }
  });

  it("refuses to start with a bad setting and names it", async () => {
    await assert.rejects(spawnGateway(["--http-port", "not-a-port"]), /--http-port \(httpPort\): expected a whole number/);
    await assert.rejects(spawnGateway([], { VIRTUFIN_BACKEND: "nope" }), /environment variable VIRTUFIN_BACKEND \(backend\): must be one of embedded, dapr/);
  });
});
