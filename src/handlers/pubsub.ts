import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { StatusResponseSchema } from "../../gen/virtufin/api/v1/common_pb.js";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { completeCloudEvent } from "../events/cloudevents.js";
import { identityKey } from "../auth/access-control.js";
import { decidePublish, type PublishDecision } from "../topics/namespaces.js";
import type { HandlerDeps } from "./deps.js";
import { streamEvents } from "./subscribe.js";
import { requireEventSize, requireService, requireTopic } from "./validation.js";

/** The empty filter fields of every Pubsub.Subscribe (read-only, so shared: a stream holds one Set, not three). */
const ANY_SERVICE: ReadonlySet<string> = new Set();
const ANY_EVENT_TYPE: ReadonlySet<never> = new Set();

/** One read-only Set per topic for the filters of its subscribers (bounded: cleared when full). */
const topicSets = new Map<string, ReadonlySet<string>>();
const TOPIC_SETS_MAX = 4096;

function topicSet(topic: string): ReadonlySet<string> {
  let set = topicSets.get(topic);
  if (set === undefined) {
    if (topicSets.size >= TOPIC_SETS_MAX) topicSets.clear();
    topicSets.set(topic, (set = new Set([topic])));
  }
  return set;
}

const PUBLISH_CODES: Record<Exclude<PublishDecision, { ok: true }>["code"], Code> = {
  invalid_argument: Code.InvalidArgument,
  permission_denied: Code.PermissionDenied,
  failed_precondition: Code.FailedPrecondition,
};

export function createPubsubHandlers(deps: HandlerDeps): ServiceImpl<typeof Pubsub> {
  const { registry, publisher, limits } = deps;
  return {
    async publishEvent(req, ctx) {
      const service = requireService(registry, req.service);
      const topic = requireTopic(req.topic);
      const data = requireEventSize(req.data, limits);
      const completed = completeCloudEvent(req.metadata, {
        service: service.name,
        topic,
        data,
        maxEntries: limits.maxMetadataEntries,
      });
      if ("problem" in completed) {
        const code = completed.problem.code === "permission" ? Code.PermissionDenied : Code.InvalidArgument;
        throw new ConnectError(completed.problem.message, code);
      }
      const identity = deps.policy.identityOf(ctx.values.get(identityKey), service.name);
      const decision = decidePublish({
        identity,
        service: service.name,
        topic,
        namespaces: deps.policy.namespaces,
        permissions: deps.policy.permissionsOf(identity),
        isScenarioActive: deps.isScenarioActive,
      });
      if (!decision.ok) throw deps.audit.refuse(ctx, `topic ${topic}`, decision.rule, decision.message, PUBLISH_CODES[decision.code]);
      const event = await publisher.publish(
        { pubsub: service.pubsubName, service: service.name, topic, eventType: "pubsub", data, metadata: completed.metadata },
        ctx.signal,
      );
      return { status: create(StatusResponseSchema, { success: true, message: "OK" }), messageId: event.messageId };
    },

    subscribe(req, ctx) {
      const service = requireService(registry, req.service);
      const topic = requireTopic(req.topic);
      const filter = { services: ANY_SERVICE, topics: topicSet(topic), eventTypes: ANY_EVENT_TYPE };
      return streamEvents(deps, ctx, filter, [{ pubsub: service.pubsubName, topic }], topic);
    },
  };
}
