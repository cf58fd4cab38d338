/**
 * Access control end to end, with a policy file: tokens and JWTs prove the caller's service;
 * a service publishes only where its namespace and permissions allow, writes only its own state,
 * and never sees events it could not have subscribed to. Without a policy the gateway runs open
 * and says so.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { Gateway } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { Scenarios } from "../../gen/virtufin/api/v1/scenarios_pb.js";
import { hashToken } from "../../src/auth/identity.js";
import { createServiceRegistry } from "../../src/services/registry.js";
import { decodeJson, openStream, startGateway, tempDir, type RunningGateway } from "../support/gateway.js";
import { spawnGateway } from "../support/process.js";

const TOKEN_A = "token-for-workmanager-0123456789";
const TOKEN_B = "token-for-websocketmanager-98765";
const TOKEN_ADMIN = "token-for-the-operator-abcdefgh";
const JWT_SECRET = "a-shared-secret-of-at-least-32-bytes!!";

const bearer = (token: string): Interceptor => (next) => (req) => {
  req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

describe("access control with a policy file", () => {
  const dir = tempDir();
  let gw: RunningGateway;
  const as = (token: string) => createGrpcTransport({ baseUrl: gw.baseUrl, interceptors: [bearer(token)] });

  before(async () => {
    const policyFile = join(dir.path, "policy.json");
    writeFileSync(
      policyFile,
      JSON.stringify({
        auth: {
          tokens: [
            { service: "workmanager", sha256: hashToken(TOKEN_A) },
            { service: "websocketmanager", sha256: hashToken(TOKEN_B) },
            { service: "workmanager", sha256: hashToken(TOKEN_ADMIN), admin: true },
          ],
          jwt: { secret: JWT_SECRET, audience: "virtufin-api" },
        },
        permissions: {
          services: {
            workmanager: { subscribe: { allow: [">"], deny: ["websocketmanager.private"] } },
          },
        },
      }),
    );
    const registry = createServiceRegistry(
      {
        services: [
          { name: "workmanager", topics: ["workmanager.status"], statusTopic: "workmanager.status" },
          { name: "websocketmanager", topics: ["websocketmanager.status", "websocketmanager.private"], statusTopic: "websocketmanager.status" },
        ],
      },
      { pubsubName: "pubsub", stateStoreName: "statestore" },
    );
    gw = await startGateway({ policyFile }, { registry });
  });
  after(async () => {
    await gw.stop();
    dir.remove();
  });

  it("refuses calls without valid credentials with UNAUTHENTICATED", async () => {
    const none = createClient(State, createGrpcTransport({ baseUrl: gw.baseUrl }));
    assert.equal(await codeOf(none.getState({ service: "workmanager", key: "k" })), Code.Unauthenticated);
    const malformed = createClient(State, createGrpcTransport({ baseUrl: gw.baseUrl, interceptors: [(next) => (req) => (req.header.set("authorization", "Token abc"), next(req))] }));
    assert.equal(await codeOf(malformed.getState({ service: "workmanager", key: "k" })), Code.Unauthenticated);
    const wrong = createClient(State, as("not-a-configured-token-at-all"));
    assert.equal(await codeOf(wrong.getState({ service: "workmanager", key: "k" })), Code.Unauthenticated);
    const subscribeCode = await openStream(createGrpcTransport({ baseUrl: gw.baseUrl }), Gateway.method.subscribe, {}).then(
      (s) => s.next().then(() => "ok", (e: unknown) => ConnectError.from(e).code),
      (e: unknown) => ConnectError.from(e).code,
    );
    assert.equal(subscribeCode, Code.Unauthenticated);
  });

  it("lets A publish on its own lifecycle topic only, and write only its own state", async () => {
    const deniedBefore = gw.app.deps.audit.denied;
    const pubsub = createClient(Pubsub, as(TOKEN_A));
    const state = createClient(State, as(TOKEN_A));
    assert.equal(await codeOf(pubsub.publishEvent({ service: "workmanager", topic: "workmanager.status" })), "ok");
    assert.equal(await codeOf(pubsub.publishEvent({ service: "websocketmanager", topic: "websocketmanager.status" })), Code.PermissionDenied);
    assert.equal(await codeOf(pubsub.publishEvent({ service: "workmanager", topic: "websocketmanager.status" })), Code.PermissionDenied);
    assert.equal(await codeOf(pubsub.publishEvent({ service: "workmanager", topic: "elsewhere.x.y" })), Code.PermissionDenied);
    assert.equal(await codeOf(pubsub.publishEvent({ service: "workmanager", topic: "md.feed.x" })), Code.PermissionDenied, "md lane needs a grant");
    assert.equal(await codeOf(state.saveState({ service: "workmanager", key: "mine", value: "v" })), "ok");
    assert.equal(await codeOf(state.saveState({ service: "websocketmanager", key: "theirs", value: "v" })), Code.PermissionDenied);
    assert.equal(await codeOf(state.getState({ service: "websocketmanager", key: "theirs" })), Code.PermissionDenied);
    assert.equal(gw.app.deps.audit.denied - deniedBefore, 6, "every denial audited once");
    const admin = createClient(State, as(TOKEN_ADMIN));
    assert.equal(await codeOf(admin.saveState({ service: "websocketmanager", key: "by-admin", value: "v" })), "ok");
  });

  it("accepts a valid JWT and refuses an expired one", async () => {
    const secret = new TextEncoder().encode(JWT_SECRET);
    const mint = (exp: number) =>
      new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("websocketmanager").setAudience("virtufin-api").setIssuedAt().setExpirationTime(exp).sign(secret);
    const now = Math.floor(Date.now() / 1000);
    const good = createClient(State, as(await mint(now + 600)));
    assert.equal(await codeOf(good.saveState({ service: "websocketmanager", key: "jwt", value: "v" })), "ok");
    assert.equal(await codeOf(good.saveState({ service: "workmanager", key: "jwt", value: "v" })), Code.PermissionDenied);
    const expired = createClient(State, as(await mint(now - 600)));
    assert.equal(await codeOf(expired.getState({ service: "websocketmanager", key: "jwt" })), Code.Unauthenticated);
  });

  it("shows A none of B's private events or B's state changes, but B's public ones", async () => {
    const stream = await openStream(as(TOKEN_A), Gateway.method.subscribe, { services: ["websocketmanager"] });
    try {
      const pubB = createClient(Pubsub, as(TOKEN_B));
      await pubB.publishEvent({ service: "websocketmanager", topic: "websocketmanager.private", data: new TextEncoder().encode('{"n":"private"}') });
      await createClient(State, as(TOKEN_B)).saveState({ service: "websocketmanager", key: "secret", value: "s", includeValue: true });
      await pubB.publishEvent({ service: "websocketmanager", topic: "websocketmanager.status", data: new TextEncoder().encode('{"n":"public"}') });
      const first = await stream.next();
      assert.equal(first?.topic, "websocketmanager.status");
      assert.deepEqual(decodeJson(first!.data), { n: "public" });
      assert.equal(await stream.next(500).catch(() => "quiet"), "quiet");
    } finally {
      stream.close();
    }
    const named = await openStream(as(TOKEN_A), Gateway.method.subscribe, { topics: ["websocketmanager.private"] }).then(
      (s) => s.next().then(() => "ok", (e: unknown) => ConnectError.from(e).code),
      (e: unknown) => ConnectError.from(e).code,
    );
    assert.equal(named, Code.PermissionDenied, "naming a denied topic fails at once");
  });

  it("lets only an admin manage scenarios", async () => {
    const id = `acl-${Date.now().toString(36)}`;
    assert.equal(await codeOf(createClient(Scenarios, as(TOKEN_A)).createScenario({ scenarioId: id })), Code.PermissionDenied);
    assert.equal(await codeOf(createClient(Scenarios, as(TOKEN_ADMIN)).createScenario({ scenarioId: id })), "ok");
    assert.equal((await createClient(Scenarios, as(TOKEN_A)).getScenario({ scenarioId: id })).scenario?.scenarioId, id);
  });
});

describe("open mode", () => {
  it("allows everything and says so at start-up and in /readyz", async () => {
    const dir = tempDir();
    const gw = await spawnGateway(["--data-dir", dir.path]);
    try {
      assert.match(gw.output(), /runs OPEN/);
      const ready = (await (await fetch(`${gw.baseUrl}/readyz`)).json()) as { auth: string };
      assert.equal(ready.auth, "open");
      const state = createClient(State, createConnectTransport({ baseUrl: gw.baseUrl, httpVersion: "1.1" }));
      await state.saveState({ service: "websocketmanager", key: "anyone", value: "v" });
      assert.equal((await state.getState({ service: "websocketmanager", key: "anyone" })).value, "v");
    } finally {
      await gw.stop();
      dir.remove();
    }
  });
});
