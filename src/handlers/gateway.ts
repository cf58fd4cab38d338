import type { ServiceImpl } from "@connectrpc/connect";
import { Gateway } from "../../gen/virtufin/api/v1/gateway_pb.js";
import type { HandlerDeps } from "./deps.js";
import { streamEvents } from "./subscribe.js";
import { requireFilter } from "./validation.js";

export function createGatewayHandlers(deps: HandlerDeps): ServiceImpl<typeof Gateway> {
  return {
    subscribe(req, ctx) {
      const filter = requireFilter(deps.registry, req, deps.limits);
      // Topics named in the filter get a backend subscription for as long as this stream lives;
      // the services' own topics and state-changes are always subscribed.
      const backendTopics = [...filter.topics].map((topic) => ({
        pubsub: deps.registry.ownerOf(topic).pubsubName,
        topic,
      }));
      return streamEvents(deps, ctx, filter, backendTopics);
    },
  };
}
