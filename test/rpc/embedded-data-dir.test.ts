/**
 * The embedded store's --data-dir is always a folder, whatever its name looks like: a name with a
 * dot (what `mktemp -d` makes: /tmp/tmp.Xy12) once made lmdb take it for a file name and fail.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { startGateway, tempDir } from "../support/gateway.js";

describe("embedded data dir", () => {
  for (const name of ["tmp.Xy12", "store.mdb", "v1.2.3"]) {
    it(`a folder named "${name}" holds the store across a restart`, async () => {
      const parent = tempDir();
      const dataDir = join(parent.path, name);
      try {
        let gw = await startGateway({ dataDir });
        const client = (baseUrl: string) => createClient(State, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
        await client(gw.baseUrl).saveState({ service: "workmanager", key: "k", value: "kept" });
        await gw.stop();
        assert.ok(existsSync(join(dataDir, "data.mdb")), "the store lives inside the folder");
        gw = await startGateway({ dataDir });
        const got = await client(gw.baseUrl).getState({ service: "workmanager", key: "k" });
        await gw.stop();
        assert.equal(got.value, "kept");
      } finally {
        parent.remove();
      }
    });
  }
});
