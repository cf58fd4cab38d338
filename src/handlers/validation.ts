/**
 * Request rules, in one place, run before any handler body touches the backend. Each throws a
 * ConnectError whose code and message tell the caller what to fix. Limits come from config.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { isEventType, type EventType, type SubscriptionFilter } from "../events/filter.js";
import { GATEWAY_SERVICE, type ServiceEntry, type ServiceRegistry } from "../services/registry.js";
import { clip } from "../auth/raw.js";
import { keyProblem } from "../state/keys.js";
import { topicProblem } from "../topics/topics.js";

export interface RequestLimits {
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly maxEventBytes: number;
  readonly maxMetadataEntries: number;
  readonly maxRegisterKeys: number;
  readonly maxFilterEntries: number;
}

const MAX_ETAG_LENGTH = 256;

/** A service that callers may read, write and publish as. */
export function requireService(registry: ServiceRegistry, name: string): ServiceEntry {
  if (name === "") throw new ConnectError("service is required", Code.InvalidArgument);
  if (name === GATEWAY_SERVICE) {
    throw new ConnectError(`service "${GATEWAY_SERVICE}" is reserved for the gateway itself`, Code.PermissionDenied);
  }
  const entry = registry.get(name);
  if (entry === undefined) {
    throw new ConnectError(`unknown service "${clip(name)}": it has no entry in services.json`, Code.NotFound);
  }
  return entry;
}

export function requireKey(key: string, limits: RequestLimits): string {
  const problem = keyProblem(key, limits.maxKeyBytes);
  if (problem !== undefined) throw new ConnectError(problem, Code.InvalidArgument);
  return key;
}

export function requireValue(value: string, limits: RequestLimits): string {
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes > limits.maxValueBytes) {
    throw new ConnectError(`value is ${bytes} bytes; the limit is ${limits.maxValueBytes}`, Code.ResourceExhausted);
  }
  return value;
}

/** "" means no ETag (last-write-wins). */
export function optionalEtag(etag: string): string | undefined {
  if (etag === "") return undefined;
  if (etag.length > MAX_ETAG_LENGTH || !/^[\x21-\x7e]+$/.test(etag)) {
    throw new ConnectError("etag is malformed", Code.InvalidArgument);
  }
  return etag;
}

export function requireTopic(topic: string): string {
  const problem = topicProblem(topic);
  if (problem !== undefined) throw new ConnectError(problem, Code.InvalidArgument);
  return topic;
}

export function requireEventSize(data: Uint8Array, limits: RequestLimits): Uint8Array {
  if (data.byteLength > limits.maxEventBytes) {
    throw new ConnectError(`event data is ${data.byteLength} bytes; the limit is ${limits.maxEventBytes}`, Code.ResourceExhausted);
  }
  return data;
}

export function requireKeyList(keys: readonly string[], limits: RequestLimits): readonly string[] {
  if (keys.length === 0) throw new ConnectError("keys is empty", Code.InvalidArgument);
  if (keys.length > limits.maxRegisterKeys) {
    throw new ConnectError(`${keys.length} keys in one call; the limit is ${limits.maxRegisterKeys}`, Code.InvalidArgument);
  }
  for (const k of keys) requireKey(k, limits);
  return keys;
}

/** A Subscribe filter: every service known, every topic well formed, every event type one of three. */
export function requireFilter(
  registry: ServiceRegistry,
  request: { readonly services: readonly string[]; readonly topics: readonly string[]; readonly eventTypes: readonly string[] },
  limits: RequestLimits,
): SubscriptionFilter {
  for (const [field, list] of [
    ["services", request.services],
    ["topics", request.topics],
    ["event_types", request.eventTypes],
  ] as const) {
    if (list.length > limits.maxFilterEntries) {
      throw new ConnectError(`${field} has ${list.length} entries; the limit is ${limits.maxFilterEntries}`, Code.InvalidArgument);
    }
  }
  for (const s of request.services) {
    if (registry.get(s) === undefined) {
      throw new ConnectError(`unknown service "${clip(s)}" in the filter: it has no entry in services.json`, Code.NotFound);
    }
  }
  for (const t of request.topics) requireTopic(t);
  const eventTypes = new Set<EventType>();
  for (const t of request.eventTypes) {
    if (!isEventType(t)) {
      throw new ConnectError(`unknown event type "${clip(t)}": use state, pubsub or system`, Code.InvalidArgument);
    }
    eventTypes.add(t);
  }
  return { services: new Set(request.services), topics: new Set(request.topics), eventTypes };
}
