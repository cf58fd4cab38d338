/**
 * The registry's events: one `system` event per change on `virtufin-api.scenarios`, published as
 * the gateway's own service, with CloudEvents metadata (`ce-type`
 * `com.virtufin.virtufin-api.scenario.<created|paused|resumed|archived|deleted>`, `ce-subject` the
 * scenario id). The data is the record JSON after the change, or for a deletion
 * `{"scenarioId","status":"deleted","createdAt","revision"}`.
 */
import { randomUUID } from "node:crypto";
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { serviceSource } from "../events/cloudevents.js";
import type { OutgoingEvent } from "../events/publisher.js";
import { GATEWAY_SERVICE } from "../services/registry.js";
import { encodeScenarioRecord, type ScenarioRecord } from "./record.js";
import { isScenarioStatus, LIVE_SCENARIO_ID, scenarioIdProblem, type ScenarioAction, type ScenarioStatus } from "./rules.js";

export { SCENARIOS_TOPIC } from "../services/registry.js";
import { SCENARIOS_TOPIC } from "../services/registry.js";
export const SCENARIO_EVENT_TYPE_PREFIX = `com.virtufin.${GATEWAY_SERVICE}.scenario.`;

export type ScenarioEventKind = "created" | "paused" | "resumed" | "archived" | "deleted";

const KIND_OF_ACTION: Readonly<Record<ScenarioAction, ScenarioEventKind>> = {
  create: "created",
  pause: "paused",
  resume: "resumed",
  archive: "archived",
  delete: "deleted",
};

export function scenarioEventKind(action: ScenarioAction): ScenarioEventKind {
  return KIND_OF_ACTION[action];
}

/** What a registry event says about one scenario; enough to order events and track activity. */
export interface ScenarioChange {
  readonly scenarioId: string;
  readonly status: ScenarioStatus | "deleted";
  readonly createdAt: string;
  readonly revision: number;
}

/** The outgoing event of a change: `after` is the record written, or the record deleted. */
export function scenarioEvent(
  pubsub: string,
  kind: ScenarioEventKind,
  after: ScenarioRecord,
  time: Date,
  newId: () => string = randomUUID,
): OutgoingEvent {
  const data =
    kind === "deleted"
      ? JSON.stringify({ scenarioId: after.scenarioId, status: "deleted", createdAt: after.createdAt, revision: after.revision })
      : encodeScenarioRecord(after);
  return {
    pubsub,
    service: GATEWAY_SERVICE,
    topic: SCENARIOS_TOPIC,
    eventType: "system",
    data: new TextEncoder().encode(data),
    metadata: {
      "ce-id": newId(),
      "ce-source": serviceSource(GATEWAY_SERVICE),
      "ce-type": `${SCENARIO_EVENT_TYPE_PREFIX}${kind}`,
      "ce-time": time.toISOString(),
      "ce-specversion": "1.0",
      "ce-datacontenttype": "application/json",
      "ce-subject": after.scenarioId,
    },
  };
}

/** The change a registry event carries, or undefined when the event is not one. */
export function scenarioChangeOf(event: StreamEvent): ScenarioChange | undefined {
  if (event.service !== GATEWAY_SERVICE || event.topic !== SCENARIOS_TOPIC) return undefined;
  if (!(event.metadata["ce-type"] ?? "").startsWith(SCENARIO_EVENT_TYPE_PREFIX)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(event.data));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { scenarioId, status, createdAt, revision } = parsed as Record<string, unknown>;
  if (typeof scenarioId !== "string" || scenarioId === LIVE_SCENARIO_ID || scenarioIdProblem(scenarioId) !== undefined) return undefined;
  if (status !== "deleted" && !isScenarioStatus(status)) return undefined;
  if (typeof createdAt !== "string") return undefined;
  const rev = revision ?? 1;
  if (typeof rev !== "number" || !Number.isSafeInteger(rev) || rev < 0) return undefined;
  return { scenarioId, status, createdAt, revision: rev };
}
