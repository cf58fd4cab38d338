/**
 * Every setting of the gateway, declared once: its CLI flag, its environment variables, its
 * default and what it means. Parsing, validation, `--help` and the README table all come from here.
 */
export type SettingType = "int" | "string" | "list" | "bool" | "enum";

export interface Setting {
  readonly key: keyof RawConfigShape;
  readonly flag: string;
  readonly env: readonly string[];
  readonly type: SettingType;
  readonly default: string | number | boolean | readonly string[];
  readonly description: string;
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
}

/** The shape after parsing, before cross-field validation. */
export interface RawConfigShape {
  host: string;
  httpPort: number;
  backend: string;
  dataDir: string;
  servicesFile: string;
  daprHost: string;
  daprGrpcPort: number;
  daprHttpPort: number;
  daprTopicPrefix: string;
  daprStartupTimeoutMs: number;
  daprCallTimeoutMs: number;
  pubsubName: string;
  stateStoreName: string;
  corsOrigins: readonly string[];
  policyFile: string;
  maxKeyBytes: number;
  maxValueBytes: number;
  maxEventBytes: number;
  maxMessageBytes: number;
  maxMetadataEntries: number;
  maxRegisterKeys: number;
  subscriberBufferSize: number;
  maxSubscribers: number;
  maxFilterEntries: number;
  slowConsumerGraceMs: number;
  http2MaxConcurrentStreams: number;
  maxHeaderBytes: number;
  maxTimeoutMs: number;
  shutdownGraceMs: number;
  logLevel: string;
  logFormat: "auto" | "json" | "pretty";
}

const MiB = 1024 * 1024;

export const settings: readonly Setting[] = [
  { key: "host", flag: "host", env: ["VIRTUFIN_HOST"], type: "string", default: "0.0.0.0", description: "Address to listen on." },
  { key: "httpPort", flag: "http-port", env: ["HttpPort", "VIRTUFIN_HTTP_PORT"], type: "int", default: 5002, min: 0, max: 65535, description: "The one port for gRPC, gRPC-Web and Connect (0 picks a free port)." },
  { key: "backend", flag: "backend", env: ["VIRTUFIN_BACKEND"], type: "enum", values: ["embedded", "dapr"], default: "embedded", description: "embedded: persistent embedded store and in-process broker; dapr: a Dapr sidecar." },
  { key: "dataDir", flag: "data-dir", env: ["VIRTUFIN_DATA_DIR"], type: "string", default: "./data", description: "Folder of the embedded store." },
  { key: "servicesFile", flag: "services-file", env: ["VIRTUFIN_SERVICES_FILE"], type: "string", default: "", description: "services.json with the service entries (empty: the shipped config/services.json)." },
  { key: "daprHost", flag: "dapr-host", env: ["DAPR_HOST"], type: "string", default: "127.0.0.1", description: "Host of the Dapr sidecar." },
  { key: "daprGrpcPort", flag: "dapr-grpc-port", env: ["DAPR_GRPC_PORT"], type: "int", default: 50001, min: 1, max: 65535, description: "gRPC port of the Dapr sidecar." },
  { key: "daprHttpPort", flag: "dapr-http-port", env: ["DAPR_HTTP_PORT"], type: "int", default: 3500, min: 1, max: 65535, description: "HTTP port of the Dapr sidecar." },
  { key: "daprTopicPrefix", flag: "dapr-topic-prefix", env: ["VIRTUFIN_DAPR_TOPIC_PREFIX"], type: "string", default: "", description: "Prefix of every topic on the broker (namespaces a shared Redis or NATS; the JetStream stream's subjects must cover it)." },
  { key: "daprStartupTimeoutMs", flag: "dapr-startup-timeout-ms", env: ["VIRTUFIN_DAPR_STARTUP_TIMEOUT_MS"], type: "int", default: 60000, min: 0, max: 3600000, description: "How long start-up waits for the Dapr sidecar." },
  { key: "daprCallTimeoutMs", flag: "dapr-call-timeout-ms", env: ["VIRTUFIN_DAPR_CALL_TIMEOUT_MS"], type: "int", default: 5000, min: 10, max: 600000, description: "Timeout of one attempt of a Dapr call (retries and the caller's deadline come on top)." },
  { key: "pubsubName", flag: "pubsub-name", env: ["pubsubName", "VIRTUFIN_PUBSUB_NAME"], type: "string", default: "pubsub", description: "Default pub/sub component for services that name none." },
  { key: "stateStoreName", flag: "state-store-name", env: ["stateStoreName", "VIRTUFIN_STATE_STORE_NAME"], type: "string", default: "statestore", description: "Default state store component for services that name none." },
  { key: "corsOrigins", flag: "cors-origins", env: ["VIRTUFIN_CORS_ORIGINS"], type: "list", default: [], description: "Browser origins allowed by CORS, comma-separated (\"*\" allows any; empty: none)." },
  { key: "policyFile", flag: "policy-file", env: ["VIRTUFIN_POLICY_FILE"], type: "string", default: "", description: "JSON with credentials (tokens, JWT key), permissions and topic namespaces (empty: open, for local development)." },
  { key: "maxKeyBytes", flag: "max-key-bytes", env: ["VIRTUFIN_MAX_KEY_BYTES"], type: "int", default: 256, min: 1, max: 4096, description: "Longest state key, in UTF-8 bytes." },
  { key: "maxValueBytes", flag: "max-value-bytes", env: ["VIRTUFIN_MAX_VALUE_BYTES"], type: "int", default: MiB, min: 1, max: 64 * MiB, description: "Largest state value, in UTF-8 bytes." },
  { key: "maxEventBytes", flag: "max-event-bytes", env: ["VIRTUFIN_MAX_EVENT_BYTES"], type: "int", default: MiB, min: 1, max: 64 * MiB, description: "Largest published event payload, in bytes." },
  { key: "maxMessageBytes", flag: "max-message-bytes", env: ["VIRTUFIN_MAX_MESSAGE_BYTES"], type: "int", default: 4 * MiB, min: 1024, max: 256 * MiB, description: "Largest request or response message on the wire." },
  { key: "maxMetadataEntries", flag: "max-metadata-entries", env: ["VIRTUFIN_MAX_METADATA_ENTRIES"], type: "int", default: 64, min: 8, max: 4096, description: "Most metadata entries on one published event." },
  { key: "maxRegisterKeys", flag: "max-register-keys", env: ["VIRTUFIN_MAX_REGISTER_KEYS"], type: "int", default: 1000, min: 1, max: 100000, description: "Most keys in one RegisterKeys call." },
  { key: "subscriberBufferSize", flag: "subscriber-buffer-size", env: ["VIRTUFIN_SUBSCRIBER_BUFFER_SIZE"], type: "int", default: 1000, min: 1, max: 1000000, description: "Events buffered per subscriber before it is ended as a slow consumer." },
  { key: "maxSubscribers", flag: "max-subscribers", env: ["VIRTUFIN_MAX_SUBSCRIBERS"], type: "int", default: 10000, min: 1, max: 10000000, description: "Most concurrent Subscribe streams." },
  { key: "maxFilterEntries", flag: "max-filter-entries", env: ["VIRTUFIN_MAX_FILTER_ENTRIES"], type: "int", default: 100, min: 1, max: 10000, description: "Most entries in each filter list of a Subscribe request." },
  { key: "slowConsumerGraceMs", flag: "slow-consumer-grace-ms", env: ["VIRTUFIN_SLOW_CONSUMER_GRACE_MS"], type: "int", default: 5000, min: 0, max: 600000, description: "How long a slow consumer's stream may stay blocked after it was cut before it is reset." },
  { key: "http2MaxConcurrentStreams", flag: "http2-max-concurrent-streams", env: ["VIRTUFIN_HTTP2_MAX_CONCURRENT_STREAMS"], type: "int", default: 1000, min: 1, max: 1000000, description: "Most concurrent streams on one HTTP/2 connection." },
  { key: "maxHeaderBytes", flag: "max-header-bytes", env: ["VIRTUFIN_MAX_HEADER_BYTES"], type: "int", default: 16384, min: 1024, max: 1048576, description: "Largest request header block." },
  { key: "maxTimeoutMs", flag: "max-timeout-ms", env: ["VIRTUFIN_MAX_TIMEOUT_MS"], type: "int", default: 300000, min: 1, max: 86400000, description: "Longest deadline a client may ask for on a call." },
  { key: "shutdownGraceMs", flag: "shutdown-grace-ms", env: ["VIRTUFIN_SHUTDOWN_GRACE_MS"], type: "int", default: 5000, min: 0, max: 600000, description: "How long shutdown waits for in-flight calls before closing connections." },
  { key: "logLevel", flag: "log-level", env: ["VIRTUFIN_LOG_LEVEL"], type: "enum", values: ["trace", "debug", "info", "warn", "error", "fatal", "silent"], default: "info", description: "Log level." },
  { key: "logFormat", flag: "log-format", env: ["VIRTUFIN_LOG_FORMAT"], type: "enum", values: ["auto", "json", "pretty"], default: "auto", description: "json: one JSON object per line; pretty: human-readable lines; auto: pretty when stdout is a terminal, else json." },
];
