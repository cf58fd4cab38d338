/**
 * The machine's shared brokers, for tests of the Dapr backend: Redis on 127.0.0.1:6379 and NATS
 * (JetStream) on 127.0.0.1:4222. They are SHARED with other work: only ever create run-unique
 * names, clean up what you created, and never FLUSHALL / KEYS / stop them.
 */
import { jetstreamManager, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";

export const NATS_URL = "nats://127.0.0.1:4222";
export const REDIS_HOST = "127.0.0.1";
export const REDIS_PORT = 6379;

// ---------------------------------------------------------------------------------------------
// NATS JetStream
// ---------------------------------------------------------------------------------------------

export interface JetStreamStreamOptions {
  /** Default "memory" (nothing left on disk if cleanup is missed). */
  storage?: "memory" | "file";
  /** Max age of a message; default 10 minutes, so a stream a crashed run left behind empties itself. */
  maxAgeMs?: number;
}

/** A NATS connection to the shared server, named so it is recognisable in `nats server report`. */
export async function natsConnect(name = "virtufin-api tests"): Promise<NatsConnection> {
  return connect({ servers: NATS_URL, name, timeout: 5000, maxReconnectAttempts: 5 });
}

/** Runs `fn` with a JetStream manager on a fresh connection, then closes the connection. */
export async function withJetStreamManager<T>(fn: (jsm: JetStreamManager) => Promise<T>): Promise<T> {
  const nc = await natsConnect();
  try {
    return await fn(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

/**
 * Creates a JetStream stream `name` over `subjects` on the shared NATS server (memory storage,
 * max age 10 min by default) and returns a function that deletes it and closes the connection
 * (idempotent; a stream that is already gone is fine). Use run-unique names and subjects: stream
 * creation fails if the subjects overlap another stream's.
 */
export async function createJetStreamStream(
  name: string,
  subjects: string[],
  options: JetStreamStreamOptions = {},
): Promise<() => Promise<void>> {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`createJetStreamStream: invalid stream name ${JSON.stringify(name)}`);
  if (subjects.length === 0) throw new Error("createJetStreamStream: no subjects");
  const nc = await natsConnect(`virtufin-api tests ${name}`);
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name,
      subjects,
      storage: options.storage === "file" ? StorageType.File : StorageType.Memory,
      max_age: nanos(options.maxAgeMs ?? 10 * 60_000),
      num_replicas: 1,
    });
    let deleted = false;
    return async () => {
      if (deleted) return;
      deleted = true;
      try {
        await jsm.streams.delete(name).catch((err: unknown) => {
          if (!/stream not found/i.test(String(err))) throw err;
        });
      } finally {
        await nc.close();
      }
    };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

/** An ioredis client on the shared Redis (connects at once; a failing command gives up quickly). Call `disconnect()`. */
export function redisClient(): Redis {
  return new Redis({
    host: REDIS_HOST,
    port: REDIS_PORT,
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
  });
}

/** The literal part of a glob before its first special character. */
function literalPrefix(pattern: string): string {
  const m = /^[^*?[\\]*/.exec(pattern);
  return m?.[0] ?? "";
}

/**
 * Deletes every key matching the glob `pattern` with SCAN + UNLINK (never KEYS: the server is
 * shared). Refuses patterns without a literal prefix of at least 4 characters (e.g. "*"), so a
 * typo cannot wipe other people's keys. Resolves with the number of keys deleted.
 *
 * `deleteRedisKeys(redis, pattern)` uses the given client; `deleteRedisKeys(pattern)` opens and
 * closes its own.
 */
export async function deleteRedisKeys(pattern: string): Promise<number>;
export async function deleteRedisKeys(redis: Redis, pattern: string): Promise<number>;
export async function deleteRedisKeys(a: Redis | string, b?: string): Promise<number> {
  if (typeof a === "string") {
    const redis = redisClient();
    try {
      return await deleteRedisKeys(redis, a);
    } finally {
      redis.disconnect();
    }
  }
  const pattern = b;
  if (pattern === undefined) throw new Error("deleteRedisKeys: no pattern");
  if (literalPrefix(pattern).length < 4) {
    throw new Error(`deleteRedisKeys: refusing the broad pattern ${JSON.stringify(pattern)} on a shared Redis`);
  }
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await a.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await a.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}
