/**
 * The dashboard page: a header with the live connection and readiness, four tabs (live events,
 * state, publish, scenarios and health), and the token prompt shown when the gateway answers
 * UNAUTHENTICATED.
 */
import { auth } from "./api.js";
import { byId, h } from "./dom.js";
import { createEventsView } from "./events-view.js";
import { createHealthView } from "./health-view.js";
import type { StreamStatus } from "./live-stream.js";
import { createPublishView } from "./publish-view.js";
import { createStateView } from "./state-view.js";

const HEALTH_POLL_MS = 5000;
const TABS = [
  { id: "events", label: "Live events" },
  { id: "state", label: "State" },
  { id: "publish", label: "Publish" },
  { id: "health", label: "Scenarios & health" },
] as const;
type TabId = (typeof TABS)[number]["id"];

const knownServices = new Set<string>();
const servicesList = h("datalist", { id: "known-services" });
function noteService(name: string): void {
  if (name === "" || knownServices.has(name)) return;
  knownServices.add(name);
  servicesList.replaceChildren(...[...knownServices].sort().map((s) => h("option", { value: s })));
}

const connection = h("span", { id: "connection", class: "pill", "data-state": "connecting" }, "connecting…");
const readyPill = h("span", { id: "ready-pill", class: "pill", "data-state": "unknown" }, "readiness …");
const tokenButton = h("button", { id: "token-button", type: "button", class: "secondary small", hidden: true }, "Token");

const offline = h("div", { id: "offline-banner", class: "banner", role: "alert", hidden: true });

function showConnection(s: StreamStatus): void {
  offline.hidden = s.state !== "disconnected";
  if (s.state === "disconnected") offline.textContent = `Disconnected from the gateway (${s.error}). Reconnecting by itself; events published meanwhile are not shown.`;
  connection.dataset["state"] = s.state;
  connection.removeAttribute("title");
  switch (s.state) {
    case "connected":
      connection.textContent = "live";
      break;
    case "connecting":
      connection.textContent = "connecting…";
      break;
    case "disconnected":
      connection.textContent = "disconnected, retrying…";
      connection.title = s.error;
      break;
    case "unauthenticated":
      connection.textContent = "token needed";
      connection.title = s.error;
      break;
    case "stopped":
      connection.textContent = "stopped";
      break;
  }
  if (s.state === "connected") void refreshHealth();
}

const events = createEventsView({ onStatus: showConnection, onService: noteService });
const stateView = createStateView({ onService: noteService });
const publish = createPublishView({ onService: noteService });
const healthView = createHealthView();

async function refreshHealth(): Promise<void> {
  const r = await healthView.refresh();
  if (r === undefined) {
    readyPill.dataset["state"] = "unreachable";
    readyPill.textContent = "unreachable";
    return;
  }
  readyPill.dataset["state"] = r.status === "ready" ? "ready" : "not-ready";
  readyPill.textContent = r.status;
  readyPill.title = r.waitingFor.length > 0 ? `waiting for ${r.waitingFor.join(", ")}` : "";
  tokenButton.hidden = r.auth !== "enforced";
}

// ---- the token prompt -------------------------------------------------------------------
const tokenInput = h("input", { id: "token-input", type: "password", autocomplete: "off", placeholder: "bearer token or JWT", required: true });
const tokenReason = h("p", { id: "token-reason", class: "muted" });
const tokenDialog = h(
  "dialog",
  { id: "token-dialog" },
  h(
    "form",
    { method: "dialog" },
    h("h2", {}, "Sign in to the gateway"),
    h("p", {}, "This gateway checks credentials. Enter a token (opaque or JWT); it is sent as ", h("code", {}, "authorization: Bearer …"), " and kept for this tab only."),
    tokenReason,
    h("label", {}, "Token", tokenInput),
    h("div", { class: "row end" }, h("button", { type: "submit", id: "token-save", value: "save" }, "Use token")),
  ),
);
tokenDialog.addEventListener("close", () => {
  if (tokenDialog.returnValue === "save" && tokenInput.value.trim() !== "") {
    auth.setToken(tokenInput.value);
    tokenInput.value = "";
    void refreshHealth();
  }
});
function askForToken(): void {
  tokenReason.textContent = auth.needed === undefined ? "" : `The gateway said: ${auth.needed}`;
  if (!tokenDialog.open) tokenDialog.showModal();
}
auth.onNeeded.add(askForToken);
tokenButton.addEventListener("click", () => {
  tokenReason.textContent = auth.token === "" ? "" : "A token is set; entering another replaces it.";
  tokenDialog.showModal();
});

// ---- tabs -----------------------------------------------------------------------------------
const panels: Record<TabId, HTMLElement> = { events: events.element, state: stateView.element, publish, health: healthView.element };
const tabButtons = TABS.map((t) => h("a", { href: `#/${t.id}`, id: `tab-${t.id}`, class: "tab", role: "tab" }, t.label));

function currentTab(): TabId {
  const id = location.hash.replace(/^#\/?/, "");
  return TABS.some((t) => t.id === id) ? (id as TabId) : "events";
}

function showTab(): void {
  const active = currentTab();
  for (const t of TABS) {
    panels[t.id].hidden = t.id !== active;
    byId(`tab-${t.id}`).setAttribute("aria-selected", String(t.id === active));
  }
  if (active === "health") void refreshHealth();
}

document.body.append(
  h(
    "header",
    { class: "top" },
    h("div", { class: "brand" }, h("span", { class: "logo" }, "◆"), "virtufin-api", h("span", { class: "sub" }, "dashboard")),
    h("nav", { class: "tabs", role: "tablist" }, ...tabButtons),
    h("div", { class: "pills" }, connection, readyPill, tokenButton),
  ),
  offline,
  h("main", {}, ...Object.values(panels)),
  tokenDialog,
  servicesList,
);

window.addEventListener("hashchange", showTab);
showTab();
events.start();
const lastService = (byId<HTMLInputElement>("state-service").value ?? "").trim();
if (lastService !== "") stateView.load(lastService);
void refreshHealth();
setInterval(() => {
  if (document.visibilityState === "visible") void refreshHealth();
}, HEALTH_POLL_MS);
