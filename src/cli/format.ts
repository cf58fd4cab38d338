/**
 * What the CLI prints, as pure functions of the messages: the human line of a streamed event, the
 * JSON line of one, tables of state and scenarios.
 */
import { toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { StreamEventSchema, type StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { ScenarioStatus, type Scenario } from "../../gen/virtufin/api/v1/scenarios_pb.js";

/** Longest payload preview on a human event line, in characters. */
export const PREVIEW_CHARS = 120;

/**
 * One human-readable line per event: time, service, topic, event type, id, payload preview.
 * `2024-05-01T12:00:00.000Z  workmanager  workmanager.workerstatus  pubsub  6f0c…  {"worker_id":"w1"}`
 */
export function formatEvent(event: StreamEvent): string {
  return [
    event.timestamp || "-",
    event.service || "-",
    event.topic || "-",
    event.eventType || "-",
    event.messageId || "-",
    previewData(event.data),
  ].join("  ");
}

/** The event as one line of protobuf JSON (the same shape Connect JSON carries; `data` is base64). */
export function formatEventJson(event: StreamEvent): string {
  return toJsonString(StreamEventSchema, event);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The payload as text on one line, cut at `max` characters; `<N bytes binary>` when it is not
 * UTF-8 text, `<empty>` when there is none.
 */
export function previewData(data: Uint8Array, max = PREVIEW_CHARS): string {
  if (data.length === 0) return "<empty>";
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return `<${data.length} bytes binary>`;
  }
  // Control characters other than whitespace mean it is not meant to be read as text.
  if (/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) return `<${data.length} bytes binary>`;
  return truncate(text.replace(/\s+/g, " ").trim(), max);
}

export function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, Math.max(0, max - 1)).join("")}…`;
}

/** Any response as protobuf JSON with every field, defaults included (so `found: false` shows). */
export function toJsonLine<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): string {
  return toJsonString(schema, message, { alwaysEmitImplicit: true });
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? "")].length)));
  return all.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - [...cell].length)))
      .join("  ")
      .trimEnd(),
  );
}

/** KEY / ETAG / VALUE rows of GetAllState, sorted by key, values previewed on one line. */
export function formatStateTable(values: Readonly<Record<string, string>>, etags: Readonly<Record<string, string>>): string[] {
  const keys = Object.keys(values).sort();
  return formatTable(
    ["KEY", "ETAG", "VALUE"],
    keys.map((k) => [k, etags[k] ?? "", truncate((values[k] ?? "").replace(/\s+/g, " "), PREVIEW_CHARS)]),
  );
}

/** "active", "paused", "archived" (the enum without its prefix, lower case). */
export function scenarioStatusName(status: ScenarioStatus): string {
  const name = ScenarioStatus[status] as string | undefined;
  return name === undefined ? String(status) : name.replace(/^SCENARIO_STATUS_/, "").toLowerCase();
}

export function formatScenarioTable(scenarios: readonly Scenario[]): string[] {
  return formatTable(
    ["ID", "STATUS", "CREATED", "UPDATED", "DESCRIPTION"],
    scenarios.map((s) => [s.scenarioId, scenarioStatusName(s.status), s.createdAt, s.updatedAt, s.description]),
  );
}
