/**
 * Scenarios and health, from public endpoints only: ListScenarios, /readyz, grpc.health.v1 Check,
 * and the gauges of /metrics (backend subscriptions by status, circuit breakers per operation).
 */
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { ScenarioStatus, type Scenario } from "../../gen/virtufin/api/v1/scenarios_pb.js";
import { describeError, fetchMetrics, fetchReadiness, health, scenarios, type Readiness } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { parsePrometheus, type Sample } from "./format.js";

const BREAKER_STATES: Readonly<Record<string, string>> = { "0": "closed", "0.5": "half-open", "1": "open" };
const MAX_SCENARIO_PAGES = 20;

export interface HealthView {
  readonly element: HTMLElement;
  /** Reads everything again; resolves with the readiness (undefined when the gateway did not answer). */
  refresh(): Promise<Readiness | undefined>;
}

export function createHealthView(): HealthView {
  const ready = h("dd", { id: "health-ready" }, "…");
  const authMode = h("dd", { id: "health-auth" }, "…");
  const grpcHealth = h("dd", { id: "health-grpc" }, "…");
  const subscribers = h("dd", { id: "health-subscribers" }, "…");
  const backend = h("ul", { id: "health-backend", class: "plain" });
  const breakers = h("ul", { id: "health-breakers", class: "plain" });
  const checkedAt = h("span", { id: "health-checked", class: "muted" });
  const scenarioBody = h("tbody", { id: "scenarios-body" });
  const scenarioMessage = h("div", { id: "scenarios-message", class: "message", hidden: true });
  const refreshButton = h("button", { id: "health-refresh", type: "button", class: "secondary" }, "Refresh");

  const element = h(
    "section",
    { id: "health", class: "panel" },
    h("div", { class: "toolbar" }, refreshButton, h("span", { class: "spacer" }), checkedAt),
    h(
      "div",
      { class: "cards" },
      h(
        "div",
        { class: "card" },
        h("h3", {}, "Gateway"),
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Readiness (/readyz)"),
          ready,
          h("dt", {}, "Auth"),
          authMode,
          h("dt", {}, "grpc.health.v1 Check"),
          grpcHealth,
          h("dt", {}, "Open Subscribe streams"),
          subscribers,
        ),
      ),
      h("div", { class: "card" }, h("h3", {}, "Backend subscriptions"), backend),
      h("div", { class: "card" }, h("h3", {}, "Circuit breakers"), breakers),
    ),
    h("h3", {}, "Scenarios"),
    scenarioMessage,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "scenarios-table", class: "grid scenarios" },
        h("thead", {}, h("tr", {}, h("th", {}, "Scenario"), h("th", {}, "Status"), h("th", {}, "Description"), h("th", {}, "Created"), h("th", {}, "Updated"))),
        scenarioBody,
      ),
    ),
  );

  async function refreshReadiness(): Promise<Readiness | undefined> {
    try {
      const r = await fetchReadiness();
      ready.textContent = r.waitingFor.length === 0 ? r.status : `${r.status} (waiting for ${r.waitingFor.join(", ")})`;
      ready.className = r.status === "ready" ? "good" : "bad";
      authMode.textContent = r.auth === "open" ? "open (no credentials configured)" : r.auth;
      return r;
    } catch (err) {
      ready.textContent = `unreachable (${(err as Error).message})`;
      ready.className = "bad";
      return undefined;
    }
  }

  async function refreshGrpcHealth(): Promise<void> {
    try {
      const res = await health.check({ service: "" });
      grpcHealth.textContent = HealthCheckResponse_ServingStatus[res.status] ?? String(res.status);
      grpcHealth.className = res.status === HealthCheckResponse_ServingStatus.SERVING ? "good" : "bad";
    } catch (err) {
      grpcHealth.textContent = describeError(err);
      grpcHealth.className = "bad";
    }
  }

  async function refreshMetrics(): Promise<void> {
    let samples: Sample[];
    try {
      samples = parsePrometheus(await fetchMetrics());
    } catch (err) {
      replaceChildren(backend, h("li", { class: "bad" }, (err as Error).message));
      return;
    }
    const active = samples.find((s) => s.name === "virtufin_subscribers_active");
    subscribers.textContent = active === undefined ? "not reported" : String(active.value);
    const byStatus = samples.filter((s) => s.name === "virtufin_backend_subscriptions");
    replaceChildren(
      backend,
      ...(byStatus.length === 0
        ? [h("li", { class: "muted" }, "none reported")]
        : byStatus.map((s) => h("li", {}, h("span", { class: `badge status-${s.labels["status"] ?? ""}` }, s.labels["status"] ?? "?"), ` ${s.value}`))),
    );
    const breakerSamples = samples.filter((s) => s.name === "virtufin_dapr_breaker_open");
    replaceChildren(
      breakers,
      ...(breakerSamples.length === 0
        ? [h("li", { class: "muted" }, "none (the embedded backend has no breakers; the Dapr backend reports one per operation once used)")]
        : breakerSamples.map((s) => {
            const state = BREAKER_STATES[String(s.value)] ?? String(s.value);
            return h("li", {}, h("span", { class: `badge breaker-${state}` }, state), ` ${s.labels["operation"] ?? "?"}`);
          })),
    );
  }

  async function refreshScenarios(): Promise<void> {
    const all: Scenario[] = [];
    try {
      let pageToken = "";
      for (let page = 0; page < MAX_SCENARIO_PAGES; page++) {
        const res = await scenarios.listScenarios({ pageSize: 1000, pageToken });
        all.push(...res.scenarios);
        pageToken = res.nextPageToken;
        if (pageToken === "") break;
      }
      scenarioMessage.hidden = true;
    } catch (err) {
      scenarioMessage.hidden = false;
      scenarioMessage.className = "message error";
      scenarioMessage.textContent = `Could not list scenarios: ${describeError(err)}`;
      return;
    }
    replaceChildren(
      scenarioBody,
      ...(all.length === 0 ? [h("tr", { class: "empty" }, h("td", { colspan: 5 }, "No scenarios yet (LIVE is always active)."))] : all.map(scenarioRow)),
    );
  }

  async function refresh(): Promise<Readiness | undefined> {
    const [r] = await Promise.all([refreshReadiness(), refreshGrpcHealth(), refreshMetrics(), refreshScenarios()]);
    checkedAt.textContent = `checked ${new Date().toLocaleTimeString()}`;
    return r;
  }

  refreshButton.addEventListener("click", () => void refresh());
  return { element, refresh };
}

function scenarioRow(s: Scenario): HTMLTableRowElement {
  const status = (ScenarioStatus[s.status] ?? String(s.status)).toLowerCase();
  return h(
    "tr",
    { class: "scenario", "data-id": s.scenarioId },
    h("td", { class: "mono" }, s.scenarioId),
    h("td", {}, h("span", { class: `badge scenario-${status}` }, status)),
    h("td", {}, s.description),
    h("td", { class: "muted", title: s.createdAt }, shortTime(s.createdAt)),
    h("td", { class: "muted", title: s.updatedAt }, shortTime(s.updatedAt)),
  );
}

function shortTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
