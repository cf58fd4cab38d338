/**
 * Test fixtures: configs built from literals, gateways started in-process on port 0, clients over
 * every protocol, and a helper that opens a Subscribe stream and waits for its response headers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DescMessage, DescMethodServerStreaming, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { createRouterTransport, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { createApp, type App, type AppOverrides } from "../../src/app.js";
import { defaultConfig, type Config } from "../../src/config/config.js";

export function tempDir(prefix = "virtufin-test-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...defaultConfig(), host: "127.0.0.1", httpPort: 0, logLevel: "silent", shutdownGraceMs: 1000, ...overrides };
}

export interface RunningGateway {
  readonly app: App;
  readonly port: number;
  readonly baseUrl: string;
  stop(): Promise<void>;
}

/** Starts a real gateway on a free loopback port with a fresh embedded store. */
export async function startGateway(overrides: Partial<Config> = {}, appOverrides: AppOverrides = {}): Promise<RunningGateway> {
  const dir = overrides.dataDir === undefined ? tempDir() : undefined;
  const config = testConfig({ ...(dir ? { dataDir: dir.path } : {}), ...overrides });
  const app = createApp(config, appOverrides);
  const port = await app.listen();
  return {
    app,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    async stop() {
      await app.stop();
      dir?.remove();
    },
  };
}

/** An app started without a server, reached in-process through createRouterTransport with the real interceptors. */
export async function startInProcess(
  overrides: Partial<Config> = {},
  appOverrides: AppOverrides = {},
): Promise<{ app: App; transport: Transport; stop(): Promise<void> }> {
  const dir = overrides.dataDir === undefined ? tempDir() : undefined;
  const config = testConfig({ ...(dir ? { dataDir: dir.path } : {}), ...overrides });
  const app = createApp(config, appOverrides);
  await app.start();
  const transport = createRouterTransport(app.routes, { router: app.routerOptions });
  return {
    app,
    transport,
    async stop() {
      await app.stop();
      dir?.remove();
    },
  };
}

export type ProtocolName =
  | "grpc (h2)"
  | "grpc-web (h1.1)"
  | "grpc-web (h2)"
  | "connect json (h1.1)"
  | "connect binary (h2)";

/** One Connect client transport per protocol and HTTP version the gateway serves. */
export function transports(baseUrl: string): Array<{ name: ProtocolName; transport: Transport }> {
  return [
    { name: "grpc (h2)", transport: createGrpcTransport({ baseUrl }) },
    { name: "grpc-web (h1.1)", transport: createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }) },
    { name: "grpc-web (h2)", transport: createGrpcWebTransport({ baseUrl, httpVersion: "2" }) },
    { name: "connect json (h1.1)", transport: createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }) },
    { name: "connect binary (h2)", transport: createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }) },
  ];
}

export interface OpenStream<O> {
  readonly header: Headers;
  /** The next message, or undefined when the stream ended; rejects with the stream's error. */
  next(timeoutMs?: number): Promise<O | undefined>;
  close(): void;
}

/**
 * Opens a server stream and resolves once the subscription is live. Over the network that is
 * when the response headers arrive (the gateway sends them right after registering the
 * subscriber). An in-process router transport delivers headers only with the first message, so
 * there `app` is given and registration is observed in the subscription registry instead.
 */
export async function openStream<I extends DescMessage, O extends DescMessage>(
  transport: Transport,
  method: DescMethodServerStreaming<I, O>,
  request: MessageInitShape<I>,
  app?: App,
): Promise<OpenStream<MessageShape<O>>> {
  const abort = new AbortController();
  const activeBefore = app?.deps.subscribers.stats.active ?? 0;
  const response = transport.stream(method, abort.signal, undefined, undefined, once(request));
  const iterator = response.then((res) => res.message[Symbol.asyncIterator]());
  let first: Promise<IteratorResult<MessageShape<O>>> | undefined;
  let header = new Headers();
  if (app === undefined) {
    header = (await response).header;
  } else {
    let settled = false;
    first = iterator.then((it) => it.next());
    first.then(
      () => (settled = true),
      () => (settled = true),
    );
    await eventually(() => settled || app.deps.subscribers.stats.active > activeBefore, "the subscription to register");
  }
  return {
    header,
    async next(timeoutMs = 5000) {
      const pending = first ?? iterator.then((it) => it.next());
      first = undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        const r = await Promise.race([
          pending,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return r.done === true ? undefined : r.value;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => abort.abort(),
  };
}

async function* once<T>(value: T): AsyncIterable<T> {
  yield value;
}

/** Polls until `check` holds or the attempts run out (no fixed sleeps in tests). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, attempts = 200, everyMs = 25): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function decodeJson(data: Uint8Array): unknown {
  return JSON.parse(new TextDecoder().decode(data));
}

export function runId(): string {
  return `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
