/**
 * CloudEvents v1.0 attributes carried in PublishEventRequest.metadata as `ce-*` entries.
 * `completeCloudEvent` checks what the caller gave and fills the required attributes it left out.
 */
import { randomUUID } from "node:crypto";

export const CE_PREFIX = "ce-";

/** Metadata keys a caller may send besides `ce-*`: W3C trace context and application `x-*` entries. */
const TRACE_KEYS = new Set(["traceparent", "tracestate"]);
const APP_KEY = /^x-[a-z0-9][a-z0-9_.-]{0,62}$/;
/** CloudEvents attribute names: lower-case letters and digits (spec section 3.1.1), at most 20 recommended. */
const ATTRIBUTE_NAME = /^[a-z0-9]{1,32}$/;
/** RFC 3339 date-time (section 5.6). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;
/** RFC 2046 media type: type "/" subtype, optional parameters. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;.*)?$/;
/** A URI-reference (RFC 3986), loosely: printable ASCII without spaces. */
const URI_REFERENCE = /^[\x21-\x7e]+$/;
const MAX_VALUE_BYTES = 4096;

export type MetadataProblem = { readonly code: "invalid" | "permission"; readonly message: string };

export interface CompleteOptions {
  readonly service: string;
  readonly topic: string;
  readonly data: Uint8Array;
  readonly maxEntries: number;
  readonly now?: () => Date;
  readonly newId?: () => string;
}

export function serviceSource(service: string): string {
  return `urn:com.virtufin.${service}`;
}

/**
 * Validates the caller's metadata and returns it completed with `ce-id`, `ce-source`, `ce-type`,
 * `ce-time`, `ce-specversion` and `ce-datacontenttype`, or the first problem found.
 */
export function completeCloudEvent(
  metadata: Readonly<Record<string, string>>,
  opts: CompleteOptions,
): { readonly metadata: Record<string, string> } | { readonly problem: MetadataProblem } {
  const entries = Object.entries(metadata);
  const invalid = (message: string) => ({ problem: { code: "invalid" as const, message } });
  if (entries.length > opts.maxEntries) {
    return invalid(`metadata has ${entries.length} entries; the limit is ${opts.maxEntries}`);
  }
  for (const [key, value] of entries) {
    if (Buffer.byteLength(value, "utf8") > MAX_VALUE_BYTES) {
      return invalid(`metadata "${key}" is longer than ${MAX_VALUE_BYTES} bytes`);
    }
    if (key.startsWith(CE_PREFIX)) {
      if (!ATTRIBUTE_NAME.test(key.slice(CE_PREFIX.length))) {
        return invalid(`metadata "${key}": CloudEvents attribute names are lower-case letters and digits`);
      }
      continue;
    }
    if (!TRACE_KEYS.has(key) && !APP_KEY.test(key)) {
      return invalid(
        `metadata key "${key}" is not allowed: use "ce-<attribute>" for CloudEvents attributes, "traceparent"/"tracestate", or "x-<name>" for your own entries`,
      );
    }
  }

  const out: Record<string, string> = { ...metadata };
  const given = (name: string) => metadata[CE_PREFIX + name];

  const specversion = given("specversion");
  if (specversion !== undefined && specversion !== "1.0") {
    return invalid(`ce-specversion must be "1.0", got "${specversion}"`);
  }
  const id = given("id");
  if (id !== undefined && (id === "" || !/^[\x20-\x7e]+$/.test(id))) {
    return invalid("ce-id must be non-empty printable ASCII");
  }
  const source = given("source");
  if (source !== undefined) {
    if (!URI_REFERENCE.test(source)) return invalid(`ce-source must be a URI-reference, got "${source}"`);
    const own = serviceSource(opts.service);
    // URN schemes and namespace ids are case-insensitive; compare them folded.
    const folded = source.toLowerCase();
    if (folded.startsWith("urn:com.virtufin.") && folded !== own && !folded.startsWith(`${own}/`)) {
      return { problem: { code: "permission", message: `ce-source "${source}" names another service than "${opts.service}"` } };
    }
  }
  const type = given("type");
  if (type !== undefined && (type === "" || !/^[\x20-\x7e]+$/.test(type))) {
    return invalid("ce-type must be non-empty printable ASCII");
  }
  const time = given("time");
  if (time !== undefined && !isRfc3339(time)) {
    return invalid(`ce-time must be an RFC 3339 timestamp, got "${time}"`);
  }
  const contentType = given("datacontenttype");
  if (contentType !== undefined && !MEDIA_TYPE.test(contentType)) {
    return invalid(`ce-datacontenttype must be a media type such as application/json, got "${contentType}"`);
  }
  const dataschema = given("dataschema");
  if (dataschema !== undefined && !URI_REFERENCE.test(dataschema)) {
    return invalid("ce-dataschema must be a URI");
  }

  out["ce-specversion"] = "1.0";
  out["ce-id"] = id ?? (opts.newId ?? randomUUID)();
  out["ce-source"] = source ?? serviceSource(opts.service);
  out["ce-type"] = type ?? `com.virtufin.${opts.service}.${opts.topic}`;
  out["ce-time"] = time ?? (opts.now?.() ?? new Date()).toISOString();
  out["ce-datacontenttype"] = contentType ?? guessContentType(opts.data);
  return { metadata: out };
}

/**
 * Whether `s` is an RFC 3339 date-time whose fields exist: the day exists in its month, hours
 * 00-23, minutes 00-59, seconds 00-60 (a leap second), offsets within +-23:59. Date.parse alone
 * is not enough: V8 rolls 2024-02-30 over to March 1.
 */
export function isRfc3339(s: string): boolean {
  const m = RFC3339.exec(s);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  if (m[9] !== undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) return false;
  return true;
}

/** JSON when the payload parses as JSON (what almost every Virtufin service sends), else bytes. */
function guessContentType(data: Uint8Array): string {
  if (data.length === 0) return "application/octet-stream";
  try {
    JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
    return "application/json";
  } catch {
    return "application/octet-stream";
  }
}
