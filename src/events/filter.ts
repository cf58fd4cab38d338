/**
 * Subscription filters and the scope hierarchy of event-streaming.txt, as pure functions.
 *
 * A filter combines its fields with AND and the entries of one field with OR; an empty field
 * matches everything, so an empty filter is the global scope. Scopes index subscribers so that an
 * event only meets the subscribers that can match it; the filter itself decides.
 */
export const EVENT_TYPES = ["state", "pubsub", "system"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(s: string): s is EventType {
  return (EVENT_TYPES as readonly string[]).includes(s);
}

export interface SubscriptionFilter {
  readonly services: ReadonlySet<string>;
  readonly topics: ReadonlySet<string>;
  readonly eventTypes: ReadonlySet<EventType>;
}

export interface EventCoordinates {
  readonly service: string;
  readonly topic: string;
  readonly eventType: string;
}

export function matchesFilter(filter: SubscriptionFilter, event: EventCoordinates): boolean {
  return (
    (filter.services.size === 0 || filter.services.has(event.service)) &&
    (filter.topics.size === 0 || filter.topics.has(event.topic)) &&
    (filter.eventTypes.size === 0 || filter.eventTypes.has(event.eventType as EventType))
  );
}

/**
 * The scopes an event is broadcast to: `global`, `{service}`, `{service}/{topic}`,
 * `event-type/{type}`, `event-type/{type}/{service}`, and `topic/{topic}` (our addition, for
 * filters that name topics but no service).
 */
export function eventScopes(event: EventCoordinates): string[] {
  return [
    "global",
    event.service,
    `${event.service}/${event.topic}`,
    `event-type/${event.eventType}`,
    `event-type/${event.eventType}/${event.service}`,
    `topic/${event.topic}`,
  ];
}

/**
 * The scopes a subscriber is registered under: the narrowest ones that still cover every event
 * its filter matches. Invariant (tested): matchesFilter(f, e) implies filterScopes(f) and
 * eventScopes(e) share a scope.
 */
export function filterScopes(filter: SubscriptionFilter): string[] {
  const services = [...filter.services];
  const types = [...filter.eventTypes];
  const topics = [...filter.topics];
  if (services.length > 0) {
    if (types.length > 0) return services.flatMap((s) => types.map((t) => `event-type/${t}/${s}`));
    if (topics.length > 0) return services.flatMap((s) => topics.map((t) => `${s}/${t}`));
    return services;
  }
  if (types.length > 0) return types.map((t) => `event-type/${t}`);
  if (topics.length > 0) return topics.map((t) => `topic/${t}`);
  return ["global"];
}
