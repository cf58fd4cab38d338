import type { Audit } from "../auth/access-control.js";
import type { Policy } from "../auth/policy.js";
import type { EventPublisher } from "../events/publisher.js";
import type { SubscriptionManager } from "../events/subscription-manager.js";
import type { TopicSubscriptions } from "../events/topic-subscriptions.js";
import type { Readiness } from "../health/readiness.js";
import type { ServiceRegistry } from "../services/registry.js";
import type { StateService } from "../state/state-service.js";
import type { RequestLimits } from "./validation.js";

/** What the handlers need, built once by createApp and passed in. */
export interface HandlerDeps {
  readonly registry: ServiceRegistry;
  readonly state: StateService;
  readonly publisher: EventPublisher;
  readonly subscribers: SubscriptionManager;
  readonly topics: TopicSubscriptions;
  readonly readiness: Readiness;
  readonly limits: RequestLimits;
  /** How long a cut slow consumer's stream may stay blocked before it is reset. */
  readonly slowConsumerGraceMs: number;
  /** Who may do what; open when no credentials are configured. */
  readonly policy: Policy;
  readonly audit: Audit;
  /** Whether a scenario accepts publishes on sc.<id>.* (LIVE always does). */
  readonly isScenarioActive: (scenarioId: string) => boolean;
}
