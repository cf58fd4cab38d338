/**
 * The service registry: one entry per service from services.json (name, pub/sub component,
 * state store component, the topics the gateway always subscribes to, and the status topic where
 * the lifecycle of those subscriptions is reported). The gateway has an entry of its own,
 * GATEWAY_SERVICE, that owns the shared topics (state-changes).
 */
import { readFileSync } from "node:fs";
import { topicProblem, STATE_CHANGES_TOPIC } from "../topics/topics.js";

export const GATEWAY_SERVICE = "virtufin-api";
/** Where the scenario registry announces every change, so each replica's cache follows. */
export const SCENARIOS_TOPIC = `${GATEWAY_SERVICE}.scenarios`;

export interface ServiceEntry {
  readonly name: string;
  readonly pubsubName: string;
  readonly stateStoreName: string;
  /** Topics every replica subscribes to from start-up, so global subscribers see them. */
  readonly topics: readonly string[];
  /** Where `system` lifecycle events of this service's backend subscriptions are reported. */
  readonly statusTopic: string;
}

export interface ServiceRegistry {
  get(name: string): ServiceEntry | undefined;
  readonly all: readonly ServiceEntry[];
  /** The service that owns a topic: the one listing it, else the one its first token names, else the gateway. */
  ownerOf(topic: string): ServiceEntry;
}

const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const COMPONENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class ServicesFileError extends Error {
  override readonly name = "ServicesFileError";
}

export interface RegistryDefaults {
  readonly pubsubName: string;
  readonly stateStoreName: string;
}

export function loadServicesFile(path: string, defaults: RegistryDefaults): ServiceRegistry {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ServicesFileError(`services file ${path}: ${(err as Error).message}`);
  }
  return createServiceRegistry(data, defaults, path);
}

/** Validates a parsed services.json document and builds the registry. */
export function createServiceRegistry(data: unknown, defaults: RegistryDefaults, origin = "services.json"): ServiceRegistry {
  const fail = (why: string) => new ServicesFileError(`${origin}: ${why}`);
  const list = (data as { services?: unknown } | null)?.services;
  if (!Array.isArray(list)) throw fail(`expected {"services": [ ... ]}`);
  const byName = new Map<string, ServiceEntry>();
  const topicOwners = new Map<string, string>();
  for (const [i, raw] of list.entries()) {
    if (typeof raw !== "object" || raw === null) throw fail(`services[${i}] is not an object`);
    const r = raw as Record<string, unknown>;
    const name = r["name"];
    if (typeof name !== "string" || !SERVICE_NAME.test(name)) {
      throw fail(`services[${i}].name must match ${SERVICE_NAME.source}`);
    }
    if (byName.has(name) || name === GATEWAY_SERVICE) throw fail(`service "${name}" is listed twice or is reserved`);
    const str = (field: string, fallback: string): string => {
      const v = r[field] ?? fallback;
      if (typeof v !== "string" || !COMPONENT_NAME.test(v)) throw fail(`services[${i}].${field} is not a component name`);
      return v;
    };
    const topics = r["topics"] ?? [];
    if (!Array.isArray(topics) || !topics.every((t) => typeof t === "string")) {
      throw fail(`services[${i}].topics must be a list of topic names`);
    }
    const statusTopic = r["statusTopic"] ?? `${name}.status`;
    if (typeof statusTopic !== "string") throw fail(`services[${i}].statusTopic must be a topic name`);
    for (const t of [...(topics as string[]), statusTopic]) {
      const problem = topicProblem(t);
      if (problem !== undefined) throw fail(`services[${i}]: ${problem}`);
      if (t === STATE_CHANGES_TOPIC) throw fail(`services[${i}]: "${STATE_CHANGES_TOPIC}" belongs to the gateway`);
      const owner = topicOwners.get(t);
      if (owner !== undefined && owner !== name) throw fail(`services[${i}]: topic "${t}" is already owned by "${owner}"`);
      topicOwners.set(t, name);
    }
    byName.set(name, {
      name,
      pubsubName: str("pubsubName", defaults.pubsubName),
      stateStoreName: str("stateStoreName", defaults.stateStoreName),
      topics: Object.freeze([...(topics as string[])]),
      statusTopic,
    });
  }
  const gateway: ServiceEntry = {
    name: GATEWAY_SERVICE,
    pubsubName: defaults.pubsubName,
    stateStoreName: defaults.stateStoreName,
    topics: [STATE_CHANGES_TOPIC, SCENARIOS_TOPIC],
    statusTopic: `${GATEWAY_SERVICE}.status`,
  };
  byName.set(GATEWAY_SERVICE, gateway);
  const all = Object.freeze([...byName.values()]);
  return {
    all,
    get: (name) => byName.get(name),
    ownerOf(topic) {
      for (const s of all) if (s.topics.includes(topic)) return s;
      return byName.get(topic.split(".")[0] ?? "") ?? gateway;
    },
  };
}
