/**
 * The composition root: builds every dependency by hand from a Config and returns an unstarted
 * app. Nothing here listens or reads the environment; main.ts and the tests do that.
 */
import { existsSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions } from "@connectrpc/connect";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { Gateway } from "../gen/virtufin/api/v1/gateway_pb.js";
import { Pubsub } from "../gen/virtufin/api/v1/pubsub_pb.js";
import { Scenarios } from "../gen/virtufin/api/v1/scenarios_pb.js";
import { State } from "../gen/virtufin/api/v1/state_pb.js";
import type { Config } from "./config/config.js";
import type { DaprAdapter } from "./dapr/adapter.js";
import { authInterceptor, createAudit } from "./auth/access-control.js";
import { loadPolicyFile, openPolicy, type Policy } from "./auth/policy.js";
import { DeferredAdapter } from "./dapr/deferred-adapter.js";
import { Resilience } from "./dapr/resilience.js";
import { EventPublisher } from "./events/publisher.js";
import { SubscriptionManager } from "./events/subscription-manager.js";
import { TopicSubscriptions } from "./events/topic-subscriptions.js";
import { createGatewayHandlers } from "./handlers/gateway.js";
import type { HandlerDeps } from "./handlers/deps.js";
import { createHealthHandlers } from "./handlers/health.js";
import { createPubsubHandlers } from "./handlers/pubsub.js";
import { createScenariosHandlers } from "./handlers/scenarios.js";
import { requireScenarioAdmin } from "./handlers/scenarios-access.js";
import { createStateHandlers } from "./handlers/state.js";
import { ActiveScenarios } from "./scenarios/active-scenarios.js";
import { ScenarioRegistry } from "./scenarios/scenario-registry.js";
import { Readiness } from "./health/readiness.js";
import { silentLogger, type Logger } from "./observability/logger.js";
import { errorBoundary } from "./server/interceptors.js";
import { createInFlightCalls } from "./server/shutdown.js";
import { rpcLogInterceptor } from "./observability/rpc-log.js";
import { tracingInterceptor } from "./observability/tracing.js";
import { createGatewayMetrics, createTelemetry, type Telemetry } from "./observability/metrics.js";
import { createRpcRequestHandler, type NodeRequest, type NodeResponse } from "./server/rpc-adapter.js";
import { createGatewayServer, type GatewayServer } from "./server/server.js";
import { createStaticFiles, findBuiltDir } from "./server/static-files.js";
import { GATEWAY_SERVICE, loadServicesFile, SCENARIOS_TOPIC, type ServiceRegistry } from "./services/registry.js";
import { StateService } from "./state/state-service.js";
import { STATE_CHANGES_TOPIC } from "./topics/topics.js";

/** config/services.json at the package root, whether running from src/ (tsx) or dist/src/ (built). */
export const SHIPPED_SERVICES_FILE = [
  new URL("../config/services.json", import.meta.url),
  new URL("../../config/services.json", import.meta.url),
]
  .map((u) => fileURLToPath(u))
  .find((p) => existsSync(p)) ?? "config/services.json";

export interface AppOverrides {
  readonly adapter?: DaprAdapter;
  readonly policy?: Policy;
  readonly registry?: ServiceRegistry;
  readonly logger?: Logger;
}

export interface App {
  readonly config: Config;
  readonly deps: HandlerDeps;
  readonly adapter: DaprAdapter;
  readonly readiness: Readiness;
  readonly logger: Logger;
  /** Registers every service on a Connect router (also used in-process by createRouterTransport). */
  routes(router: ConnectRouter): void;
  /** Interceptors, limits and parsing options of the router; the same in-process and on the wire. */
  readonly routerOptions: ConnectRouterOptions;
  /** Opens the backend and the pinned subscriptions; readiness follows. */
  start(signal?: AbortSignal): Promise<void>;
  /** Starts, then listens on the configured port; returns the bound port. */
  listen(): Promise<number>;
  /** Graceful stop: readiness off, streams ended, connections drained, backend closed. */
  stop(): Promise<void>;
}

export function createApp(config: Config, overrides: AppOverrides = {}): App {
  const logger = overrides.logger ?? silentLogger();
  const registry =
    overrides.registry ??
    loadServicesFile(config.servicesFile === "" ? SHIPPED_SERVICES_FILE : config.servicesFile, config);
  const readiness = new Readiness(["backend", "subscriptions", "scenarios"]);
  const telemetry = createTelemetry();
  const breakerStates = new Map<string, string>();
  // The sources are read at scrape time, after every component below exists.
  const metrics = createGatewayMetrics(telemetry.meter, {
    subscribers: () => subscribers.stats,
    eventsReceived: () => topics.received,
    backendSubscriptions: () => topics.snapshot(),
    deniedCalls: () => audit.denied,
    breakerStates: () => Object.fromEntries(breakerStates),
  });
  const adapterHooks: AdapterHooks = {
    // Not ready while a breaker is open: a load balancer sends the traffic to healthy replicas.
    onBreakerState: (operation, state) => {
      logger.warn({ operation, state }, `circuit breaker ${state}`);
      breakerStates.set(operation, state);
      readiness.set(`breaker ${operation} closed`, state !== "open");
    },
    onRetry: (operation) => metrics.daprRetry(operation),
    onCallEnd: (operation, durationMs, outcome) => metrics.daprCall(operation, durationMs, outcome),
  };
  const adapter = overrides.adapter ?? createAdapter(config, logger, adapterHooks);
  const policy =
    overrides.policy ??
    (config.policyFile === "" ? openPolicy() : loadPolicyFile(config.policyFile, registry.all.map((s) => s.name)));
  const audit = createAudit(logger);

  const subscribers = new SubscriptionManager({
    bufferSize: config.subscriberBufferSize,
    maxSubscribers: config.maxSubscribers,
    onSlowConsumer: () => logger.warn("slow consumer cut: its buffer overflowed"),
  });
  const activeScenarios = new ActiveScenarios();
  const topics = new TopicSubscriptions({
    adapter,
    registry,
    subscribers,
    onEvent: (event) => {
      if (event.topic === SCENARIOS_TOPIC) activeScenarios.apply(event);
    },
    onStatus: (pubsub, topic, status, error) =>
      logger.info({ pubsub, topic, status, ...(error === undefined ? {} : { error }) }, "backend subscription"),
  });
  const publisher = new EventPublisher(adapter);
  const gatewayEntry = registry.get(GATEWAY_SERVICE);
  if (gatewayEntry === undefined) throw new Error("the service registry has no gateway entry");
  const scenarioRegistry = new ScenarioRegistry({
    adapter,
    publisher,
    store: gatewayEntry.stateStoreName,
    pubsub: gatewayEntry.pubsubName,
  });
  const deps: HandlerDeps = {
    registry,
    state: new StateService(adapter, publisher),
    publisher,
    subscribers,
    topics,
    readiness,
    limits: config,
    slowConsumerGraceMs: config.slowConsumerGraceMs,
    policy,
    audit,
    isScenarioActive: (id) => activeScenarios.isActive(id),
  };
  const inFlight = createInFlightCalls(() => readiness.isShuttingDown);
  const routerOptions: ConnectRouterOptions = {
    interceptors: [
      tracingInterceptor(),
      rpcLogInterceptor(logger.child({ component: "rpc" }), metrics),
      errorBoundary(logger),
      inFlight.interceptor,
      authInterceptor(policy, audit, logger),
    ],
    readMaxBytes: config.maxMessageBytes,
    writeMaxBytes: config.maxMessageBytes,
    maxTimeoutMs: config.maxTimeoutMs,
    // A misspelt field (say "etags" for "etag") must fail loudly, not turn a compare-and-swap
    // into a blind write; binary protobuf keeps ignoring unknown fields, as it must.
    jsonOptions: { ignoreUnknownFields: false },
  };
  const routes = (router: ConnectRouter) => {
    router.service(State, createStateHandlers(deps));
    router.service(Pubsub, createPubsubHandlers(deps));
    router.service(Gateway, createGatewayHandlers(deps));
    router.service(Scenarios, requireScenarioAdmin(createScenariosHandlers(scenarioRegistry), deps));
    router.service(
      Health,
      createHealthHandlers(readiness, [State.typeName, Pubsub.typeName, Gateway.typeName, Scenarios.typeName]),
    );
  };

  let server: GatewayServer | undefined;
  let started = false;

  const app: App = {
    config,
    deps,
    adapter,
    readiness,
    logger,
    routes,
    routerOptions,
    async start(signal) {
      if (started) return;
      started = true;
      if (policy.open) {
        logger.warn("NO CREDENTIALS CONFIGURED: the gateway runs OPEN and any caller may act as any service (local development only; set --policy-file)");
      } else {
        logger.info("access control enforced: callers must prove their service");
      }
      await adapter.start(signal);
      readiness.set("backend", true);
      const pinned = new Map<string, { pubsub: string; topic: string }>();
      const pin = (pubsub: string, topic: string) => pinned.set(`${pubsub}\x00${topic}`, { pubsub, topic });
      for (const s of registry.all) {
        for (const topic of s.topics) pin(s.pubsubName, topic);
        // Each pub/sub component carries its services' state change events.
        pin(s.pubsubName, STATE_CHANGES_TOPIC);
      }
      topics.openPinned([...pinned.values()]);
      await topics.pinnedConnected();
      readiness.set("subscriptions", true);
      // The registry's events are already flowing into the cache; load what is stored.
      await activeScenarios.load(scenarioRegistry, signal);
      readiness.set("scenarios", true);
    },
    async listen() {
      const router = createConnectRouter(routerOptions);
      routes(router);
      // Both Subscribe methods, the state methods and PublishEvent skip Connect's per-call (and
      // per-message) pipeline for the common request shapes; Connect serves everything else.
      const stateHandlers = createStateHandlers(deps);
      const handleRpc = createRpcRequestHandler(router, logger, {
        interceptors: routerOptions.interceptors ?? [],
        readMaxBytes: config.maxMessageBytes,
        writeMaxBytes: config.maxMessageBytes,
        jsonOptions: routerOptions.jsonOptions,
        maxTimeoutMs: config.maxTimeoutMs,
        unaryMethods: [
          { method: State.method.getState, impl: stateHandlers.getState },
          { method: State.method.saveState, impl: stateHandlers.saveState },
          { method: State.method.deleteState, impl: stateHandlers.deleteState },
          { method: State.method.getAllState, impl: stateHandlers.getAllState },
          { method: State.method.registerKeys, impl: stateHandlers.registerKeys },
          { method: Pubsub.method.publishEvent, impl: createPubsubHandlers(deps).publishEvent },
        ],
        eventStreams: [
          { method: Gateway.method.subscribe, impl: createGatewayHandlers(deps).subscribe },
          { method: Pubsub.method.subscribe, impl: createPubsubHandlers(deps).subscribe },
        ],
      });
      // The built dashboard: dist/dashboard from src/ (tsx); ../dashboard from dist/src/ and the bundle's lib/.
      const dashboard = createStaticFiles({
        mount: "/dashboard/",
        dir: findBuiltDir([new URL("../dist/dashboard", import.meta.url), new URL("../dashboard", import.meta.url)].map((u) => fileURLToPath(u))),
      });
      server = createGatewayServer({
        limits: config,
        corsOrigins: config.corsOrigins,
        handleRpc,
        handleHttp2Stream: handleRpc.http2Stream,
        handleHttp: (req, res) => probes(req, res, readiness, policy.open, telemetry) || dashboard(req, res),
        logger,
      });
      const address = await server.listen(config.httpPort, config.host);
      try {
        await app.start();
      } catch (err) {
        // A gateway that cannot start must not keep the port (or the process) alive.
        await app.stop().catch((stopErr: unknown) => logger.warn({ err: stopErr }, "cleanup after a failed start"));
        throw err;
      }
      return address.port;
    },
    async stop() {
      // Readiness off and new calls refused at once; streams end with UNAVAILABLE; running unary
      // calls may finish; then GOAWAY, and connections still open after the grace period are closed.
      const deadline = Date.now() + config.shutdownGraceMs;
      readiness.beginShutdown();
      subscribers.closeAll(new ConnectError("the gateway is shutting down; reconnect", Code.Unavailable));
      await inFlight.drained(config.shutdownGraceMs);
      await server?.close(Math.max(0, deadline - Date.now()));
      await topics.closeAll();
      await adapter.close();
      await telemetry.shutdown();
    },
  };
  return app;
}

interface AdapterHooks {
  readonly onBreakerState: (operation: string, state: string) => void;
  readonly onRetry: (operation: string) => void;
  readonly onCallEnd: (operation: string, durationMs: number, outcome: "ok" | "error") => void;
}

/** The configured backend; its module (lmdb, or the Dapr descriptors) is loaded by start(), the other never. */
function createAdapter(config: Config, logger: Logger, hooks: AdapterHooks): DaprAdapter {
  switch (config.backend) {
    case "embedded":
      return new DeferredAdapter("embedded", async () => {
        const { EmbeddedAdapter } = await import("./dapr/embedded/embedded-adapter.js");
        return new EmbeddedAdapter({ dataDir: config.dataDir });
      });
    case "dapr":
      return new DeferredAdapter("dapr", async () => {
        const { SidecarDaprAdapter } = await import("./dapr/sidecar/sidecar-adapter.js");
        return new SidecarDaprAdapter({
          host: config.daprHost,
          grpcPort: config.daprGrpcPort,
          topicPrefix: config.daprTopicPrefix,
          startupTimeoutMs: config.daprStartupTimeoutMs,
          logger: logger.child({ component: "dapr" }),
          resilience: new Resilience({
            attemptTimeoutMs: config.daprCallTimeoutMs,
            onStateChange: hooks.onBreakerState,
            onCallEnd: hooks.onCallEnd,
            onRetry: (operation, attempt, err) => {
              hooks.onRetry(operation);
              logger.debug({ operation, attempt, err }, "retrying a Dapr call");
            },
          }),
        });
      });
  }
}

/** GET /healthz (liveness) and GET /readyz (readiness) for Kubernetes probes. */
function probes(req: NodeRequest, res: NodeResponse, readiness: Readiness, open: boolean, telemetry: Telemetry): boolean {
  const path = (req.url ?? "").split("?", 1)[0];
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  if (path === "/metrics") {
    telemetry.serveMetrics(req as IncomingMessage, res as ServerResponse);
    return true;
  }
  if (path === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "alive" }));
    return true;
  }
  if (path === "/readyz") {
    const ready = readiness.ready;
    res.writeHead(ready ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: ready ? "ready" : "not ready", waitingFor: readiness.waitingFor, auth: open ? "open" : "enforced" }));
    return true;
  }
  return false;
}
