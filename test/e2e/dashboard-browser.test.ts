/**
 * The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core) against
 * a real gateway: events published through the API appear live, the state browser edits with
 * ETags and reports conflicts, the publish form publishes, scenarios and health show, a token is
 * asked for when auth is on, and the page reconnects by itself after a gateway restart.
 *
 * The dashboard is built first (scripts/build-dashboard.mjs), so this runs on a fresh clone.
 * Screenshots go to test-artifacts/; with UPDATE_SCREENSHOTS=1 the README's two are copied to docs/.
 * Without chromium the tests skip with a printed reason, except in CI (CI=true), where they fail.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { Gateway } from "../../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { Scenarios } from "../../gen/virtufin/api/v1/scenarios_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { hashToken } from "../../src/auth/identity.js";
import { decodeJson, eventually, openStream, startGateway, tempDir, type RunningGateway } from "../support/gateway.js";
import { spawnGateway, type GatewayProcess } from "../support/process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "test-artifacts");
const UPDATE_SCREENSHOTS = process.env["UPDATE_SCREENSHOTS"] === "1";
const IN_CI = process.env["CI"] === "true";
// Without the background-networking flags Chromium's own requests fail on a closed network.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const TOPIC = "workmanager.workerstatus"; // pinned in config/services.json: a global subscriber sees it
const enc = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

const skipReason = existsSync(CHROMIUM) || IN_CI ? false : `chromium not found at ${CHROMIUM} (apt-get install -y chromium); in CI this fails instead`;
if (skipReason !== false) console.log(`# dashboard browser tests skipped: ${skipReason}`);

let browser: BrowserContext | undefined;
let profile: ReturnType<typeof tempDir> | undefined;

/** Builds the dashboard and starts one browser (fresh profile) for every test in this file. */
async function browserContext(): Promise<BrowserContext> {
  if (browser !== undefined) return browser;
  assert.ok(existsSync(CHROMIUM), `chromium is required in CI but is not at ${CHROMIUM}: apt-get install -y chromium`);
  const build = spawnSync(process.execPath, [join(ROOT, "scripts/build-dashboard.mjs")], { encoding: "utf8" });
  assert.equal(build.status, 0, `dashboard build failed:\n${build.stdout}\n${build.stderr}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  profile = tempDir("virtufin-chromium-");
  browser = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 760 },
  });
  browser.setDefaultTimeout(20_000);
  return browser;
}

after(async () => {
  await browser?.close();
  profile?.remove();
});

interface WatchedPage {
  readonly page: Page;
  /** Console errors and uncaught exceptions of the page. */
  readonly errors: string[];
}

async function openPage(baseUrl: string): Promise<WatchedPage> {
  const page = await (await browserContext()).newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  await page.goto(`${baseUrl}/`);
  return { page, errors };
}

async function screenshot(page: Page, name: string, readmeCopy = false): Promise<void> {
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path });
  if (readmeCopy && UPDATE_SCREENSHOTS) copyFileSync(path, join(ROOT, "docs", name));
}

const text = async (page: Page, selector: string) => ((await page.locator(selector).first().textContent()) ?? "").trim();

async function connectionState(page: Page): Promise<string> {
  return (await page.locator("#connection").getAttribute("data-state")) ?? "";
}

describe("dashboard in a real browser", { skip: skipReason }, () => {
  describe("against an open gateway", () => {
    let gw: RunningGateway;
    let watched: WatchedPage;
    let page: Page;
    const transport = () => createConnectTransport({ baseUrl: gw.baseUrl, httpVersion: "1.1" });
    const pubsub = () => createClient(Pubsub, transport());
    const state = () => createClient(State, transport());

    before(async () => {
      await browserContext();
      gw = await startGateway();
      watched = await openPage(gw.baseUrl);
      page = watched.page;
    });
    after(async () => {
      await page?.close();
      await gw?.stop();
    });

    it("is served at / (redirected to /dashboard/) and goes live without console errors", async () => {
      assert.equal(new URL(page.url()).pathname, "/dashboard/");
      assert.equal(await page.title(), "virtufin-api dashboard");
      await page.waitForSelector('#connection[data-state="connected"]');
      await page.waitForSelector('#ready-pill[data-state="ready"]');
      assert.deepEqual(watched.errors, []);
    });

    it("shows events published through the API as they arrive, with a moving rate", async () => {
      assert.equal(await text(page, "#events-rate"), "0 ev/s");
      const ids: string[] = [];
      for (let i = 1; i <= 3; i++) {
        const res = await pubsub().publishEvent({ service: "workmanager", topic: TOPIC, data: enc({ worker_id: `w${i}`, status: "started", load: i / 10 }) });
        ids.push(res.messageId);
      }
      for (const id of ids) await page.locator(`tr.event[data-id="${id}"]`).waitFor();
      const row = page.locator(`tr.event[data-id="${ids[0]}"]`);
      assert.equal(await row.locator("td.service").textContent(), "workmanager");
      assert.equal(await row.locator("td.topic").textContent(), TOPIC);
      assert.equal(await row.locator("td.type").textContent(), "pubsub");
      assert.equal(await row.locator("td.payload code").textContent(), '{"worker_id":"w1","status":"started","load":0.1}');
      // Newest first.
      assert.equal(await page.locator("tr.event").first().getAttribute("data-id"), ids[2]);
      await eventually(async () => (await text(page, "#events-rate")) !== "0 ev/s", "the rate indicator to move");
      assert.match(await text(page, "#events-rate"), /^\d+(\.\d)? ev\/s$/);
      assert.deepEqual(watched.errors, []);
    });

    it("expands a payload to pretty JSON with its CloudEvents attributes", async () => {
      const payload = { worker_id: "w-pretty", nested: { a: [1, 2], b: "ü ⏱️" } };
      const { messageId } = await pubsub().publishEvent({
        service: "workmanager",
        topic: TOPIC,
        data: enc(payload),
        metadata: { "ce-type": "com.virtufin.workmanager.worker.started" },
      });
      const row = page.locator(`tr.event[data-id="${messageId}"]`);
      await row.click();
      const detail = page.locator("tr.event-detail");
      assert.equal(await detail.locator("pre.payload-pretty").textContent(), JSON.stringify(payload, null, 2));
      const attributes = (await detail.locator("dl.attributes").textContent()) ?? "";
      assert.match(attributes, /ce-typecom\.virtufin\.workmanager\.worker\.started/);
      assert.match(attributes, new RegExp(`ce-id${messageId}`));
      await row.click();
      assert.equal(await page.locator("tr.event-detail").count(), 0, "a second click folds it again");
    });

    it("pause holds new events back until resume; clear empties the table", async () => {
      await page.click("#events-pause");
      const { messageId } = await pubsub().publishEvent({ service: "workmanager", topic: TOPIC, data: enc({ during: "pause" }) });
      await page.locator('#events-held:has-text("1 held while paused")').waitFor();
      assert.equal(await page.locator(`tr.event[data-id="${messageId}"]`).count(), 0, "the table does not change while paused");
      await page.click("#events-pause");
      await page.locator(`tr.event[data-id="${messageId}"]`).waitFor();
      await page.click("#events-clear");
      assert.equal(await page.locator("tr.event").count(), 0);
      assert.equal(await text(page, "#events-count"), "0 shown");
    });

    it("state browser: lists a service's keys and follows live changes", async () => {
      await state().saveState({ service: "workmanager", key: "worker-1", value: JSON.stringify({ state: "idle", jobs: 0 }) });
      await state().saveState({ service: "workmanager", key: "worker-2", value: JSON.stringify({ state: "busy", jobs: 3 }) });
      await state().saveState({ service: "workmanager", key: "config.limits", value: "max=10" });
      await page.click("#tab-state");
      await page.fill("#state-service", "workmanager");
      await page.click("#state-service-form button[type=submit]");
      await page.waitForSelector('#state-status:has-text("3 keys · live")');
      assert.deepEqual(await page.locator("tr.state-row td.key").allTextContents(), ["config.limits", "worker-1", "worker-2"]);
      const etag = (await state().getState({ service: "workmanager", key: "worker-1" })).etag;
      assert.equal(await text(page, 'tr.state-row[data-key="worker-1"] td.etag'), etag);

      await state().saveState({ service: "workmanager", key: "worker-3", value: '{"state":"starting"}' });
      await page.locator('tr.state-row[data-key="worker-3"]').waitFor();
      await state().saveState({ service: "workmanager", key: "worker-3", value: '{"state":"idle"}' });
      await page.waitForSelector('tr.state-row[data-key="worker-3"] td.value:has-text("{\\"state\\":\\"idle\\"}")');
      await state().deleteState({ service: "workmanager", key: "worker-3" });
      await page.locator('tr.state-row[data-key="worker-3"]').waitFor({ state: "detached" });
    });

    it("state browser: an edit is saved with its ETag", async () => {
      const before = await state().getState({ service: "workmanager", key: "worker-1" });
      await page.click('tr.state-row[data-key="worker-1"] button.edit');
      const editor = page.locator('tr.state-editor[data-key="worker-1"]');
      assert.equal(await editor.locator("textarea").inputValue(), before.value);
      await editor.locator("textarea").fill('{"state":"draining","jobs":1}');
      await editor.locator("button.save").click();
      await editor.waitFor({ state: "detached" });
      await eventually(async () => (await state().getState({ service: "workmanager", key: "worker-1" })).value === '{"state":"draining","jobs":1}', "the edit to be stored");
      const after = await state().getState({ service: "workmanager", key: "worker-1" });
      assert.notEqual(after.etag, before.etag);
      await page.waitForSelector(`tr.state-row[data-key="worker-1"] td.etag:text-is("${after.etag}")`);
    });

    it("state browser: an edit based on a stale ETag is a conflict and overwrites nothing", async () => {
      await page.click('tr.state-row[data-key="worker-2"] button.edit');
      const editor = page.locator('tr.state-editor[data-key="worker-2"]');
      // Someone else writes while the editor is open.
      await state().saveState({ service: "workmanager", key: "worker-2", value: '{"state":"busy","jobs":4,"by":"api"}' });
      await editor.locator(".message.conflict").waitFor(); // the live update warns before the save
      await editor.locator("textarea").fill('{"state":"idle","by":"dashboard"}');
      await editor.locator("button.save").click();
      await editor.locator('.message.conflict:has-text("your edit was not saved")').waitFor();
      const stored = await state().getState({ service: "workmanager", key: "worker-2" });
      assert.equal(stored.value, '{"state":"busy","jobs":4,"by":"api"}');
      assert.equal(await editor.locator("textarea").inputValue(), '{"state":"idle","by":"dashboard"}', "the user's text is kept");
      await screenshot(page, "dashboard-state-conflict.png");
      await editor.locator("button.cancel").click();
    });

    it("state browser: delete removes the key", async () => {
      await page.click('tr.state-row[data-key="config.limits"] button.delete');
      await page.click('tr.state-row[data-key="config.limits"] button.confirm-delete');
      await page.locator('tr.state-row[data-key="config.limits"]').waitFor({ state: "detached" });
      assert.equal((await state().getState({ service: "workmanager", key: "config.limits" })).found, false);
    });

    it("publish form: publishes with CloudEvents attributes", async () => {
      const stream = await openStream(transport(), Gateway.method.subscribe, { topics: [TOPIC], eventTypes: ["pubsub"] });
      try {
        await page.click("#tab-publish");
        await page.fill("#publish-service", "workmanager");
        await page.fill("#publish-topic", TOPIC);
        await page.fill("#publish-payload", '{"worker_id":"w-form","status":"stopped"}');
        await page.fill("#publish-ce-type", "com.virtufin.workmanager.worker.stopped");
        await page.fill("#publish-extra", "x-origin=dashboard-test");
        await page.click('#publish-form button[type="submit"]');
        await page.locator("#publish-result.ok").waitFor();
        const messageId = (await page.locator("#publish-result").getAttribute("data-message-id")) ?? "";
        assert.match(messageId, /^[0-9a-f-]{36}$/);
        await screenshot(page, "dashboard-publish.png");
        const event = await stream.next(10_000);
        assert.ok(event !== undefined);
        assert.equal(event.messageId, messageId);
        assert.deepEqual(decodeJson(event.data), { worker_id: "w-form", status: "stopped" });
        assert.equal(event.metadata["ce-type"], "com.virtufin.workmanager.worker.stopped");
        assert.equal(event.metadata["x-origin"], "dashboard-test");
        await page.click("#tab-events");
        await page.locator(`tr.event[data-id="${messageId}"]`).waitFor();
      } finally {
        stream.close();
      }
      // A bad topic is refused with the gateway's message.
      await page.click("#tab-publish");
      await page.fill("#publish-topic", "Not A Topic");
      await page.click('#publish-form button[type="submit"]');
      await page.locator('#publish-result.error:has-text("INVALID_ARGUMENT")').waitFor();
    });

    it("scenarios and health: lists a scenario created through the API and shows readiness", async () => {
      await createClient(Scenarios, transport()).createScenario({ scenarioId: "dash-demo", description: "dashboard test scenario" });
      await page.click("#tab-health");
      await page.click("#health-refresh");
      const row = page.locator('tr.scenario[data-id="dash-demo"]');
      await row.waitFor();
      assert.equal(await row.locator(".badge").textContent(), "active");
      assert.match((await row.textContent()) ?? "", /dashboard test scenario/);
      assert.equal(await text(page, "#health-ready"), "ready");
      assert.match(await text(page, "#health-auth"), /^open/);
      assert.equal(await text(page, "#health-grpc"), "SERVING");
      assert.match(await text(page, "#health-backend"), /connected \d+/);
      assert.match(await text(page, "#health-breakers"), /none/);
      await screenshot(page, "dashboard-health.png");
    });

    it("captures the README screenshots", async () => {
      const services = ["workmanager", "websocketmanager"] as const;
      await state().saveState({ service: "workmanager", key: "worker-7", value: '{"state":"busy","job":"rebalance-eu"}', includeValue: true });
      for (let i = 0; i < 8; i++) {
        const service = services[i % 2] ?? "workmanager";
        const topic = service === "workmanager" ? TOPIC : "websocketmanager.connectionstatus";
        const data = service === "workmanager" ? { worker_id: `w${i}`, status: i % 3 === 0 ? "stopped" : "started", queue: 40 - i } : { connection_id: `c-${100 + i}`, status: "open", user: `trader-${i}` };
        await pubsub().publishEvent({ service, topic, data: enc(data), metadata: { "ce-type": `com.virtufin.${service}.status` } });
      }
      await state().saveState({ service: "workmanager", key: "worker-1", value: '{"state":"idle","jobs":0}' });
      await page.click("#tab-events");
      await page.locator("tr.event").nth(9).waitFor();
      await page.locator("tr.event").nth(2).click();
      await screenshot(page, "dashboard-events.png", true);
      await page.locator("tr.event").nth(2).click();

      await page.click("#tab-state");
      await page.waitForSelector('tr.state-row[data-key="worker-7"]');
      await page.click('tr.state-row[data-key="worker-2"] button.edit');
      await state().saveState({ service: "workmanager", key: "worker-2", value: '{"state":"busy","jobs":5}' });
      const editor = page.locator('tr.state-editor[data-key="worker-2"]');
      await editor.locator("textarea").fill('{"state":"idle","jobs":0}');
      await editor.locator("button.save").click();
      await editor.locator('.message.conflict:has-text("your edit was not saved")').waitFor();
      await screenshot(page, "dashboard-state.png", true);
      await editor.locator("button.cancel").click();
      if (UPDATE_SCREENSHOTS) writeFileSync(join(ARTIFACTS, "docs-updated.txt"), "docs/dashboard-events.png and docs/dashboard-state.png were updated\n");
    });

    it("logged no console errors beyond the refused calls it provoked", () => {
      // The stale-ETag save (409) and the bad topic (400) are expected refusals; Chromium logs each.
      const unexpected = watched.errors.filter((e) => !/status of (409|400) \(/.test(e));
      assert.deepEqual(unexpected, []);
    });
  });

  describe("against a gateway that checks credentials", () => {
    const TOKEN = "token-for-the-dashboard-operator-0123";
    const dir = tempDir();
    let gw: RunningGateway;

    before(async () => {
      await browserContext();
      const policyFile = join(dir.path, "policy.json");
      writeFileSync(policyFile, JSON.stringify({ auth: { tokens: [{ service: "workmanager", sha256: hashToken(TOKEN), admin: true }] } }));
      gw = await startGateway({ policyFile });
    });
    after(async () => {
      await gw?.stop();
      dir.remove();
    });

    it("asks for a token on UNAUTHENTICATED, then works with it", async () => {
      const { page } = await openPage(gw.baseUrl);
      try {
        await page.locator("#token-dialog[open]").waitFor();
        assert.equal(await connectionState(page), "unauthenticated");
        assert.match(await text(page, "#token-reason"), /The gateway said: .+/);
        await screenshot(page, "dashboard-token.png");

        await page.fill("#token-input", "not-the-right-token");
        await page.click("#token-save");
        await page.waitForSelector('#connection[data-state="unauthenticated"]');
        await page.locator("#token-dialog[open]").waitFor();

        await page.fill("#token-input", TOKEN);
        await page.click("#token-save");
        await page.waitForSelector('#connection[data-state="connected"]');
        assert.equal(await page.locator("#token-dialog[open]").count(), 0);
        await page.locator("#token-button").waitFor(); // visible: auth is enforced

        const bearer: Interceptor = (next) => (req) => {
          req.header.set("authorization", `Bearer ${TOKEN}`);
          return next(req);
        };
        const client = createClient(Pubsub, createConnectTransport({ baseUrl: gw.baseUrl, httpVersion: "1.1", interceptors: [bearer] }));
        const { messageId } = await client.publishEvent({ service: "workmanager", topic: TOPIC, data: enc({ with: "token" }) });
        await page.locator(`tr.event[data-id="${messageId}"]`).waitFor();
      } finally {
        await page.close();
      }
    });
  });

  describe("when the gateway goes away and comes back", () => {
    const dir = tempDir();
    let gateway: GatewayProcess | undefined;

    after(async () => {
      await gateway?.stop();
      dir.remove();
    });

    it("shows disconnected, reconnects by itself and shows new events", async () => {
      await browserContext();
      const port = await freePort();
      const args = ["--data-dir", join(dir.path, "data"), "--http-port", String(port)];
      gateway = await spawnGateway(args);
      const { page } = await openPage(gateway.baseUrl);
      try {
        await page.waitForSelector('#connection[data-state="connected"]');
        assert.equal(await gateway.stop(), 0, "clean exit");
        await page.waitForSelector('#connection[data-state="disconnected"]');
        assert.match((await page.locator("#connection").getAttribute("title")) ?? "", /\S/, "the reason is in the tooltip");
        assert.match(await text(page, "#offline-banner"), /^Disconnected from the gateway \(.+\)\. Reconnecting by itself/);
        await screenshot(page, "dashboard-disconnected.png");

        gateway = await spawnGateway(args);
        await page.waitForSelector('#connection[data-state="connected"]', { timeout: 30_000 });
        assert.equal(await page.locator("#offline-banner").isHidden(), true);
        const client = createClient(Pubsub, createConnectTransport({ baseUrl: gateway.baseUrl, httpVersion: "1.1" }));
        const { messageId } = await client.publishEvent({ service: "workmanager", topic: TOPIC, data: enc({ after: "restart" }) });
        await page.locator(`tr.event[data-id="${messageId}"]`).waitFor();
      } finally {
        await page.close();
      }
    });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
