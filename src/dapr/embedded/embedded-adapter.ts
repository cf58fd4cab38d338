/**
 * The embedded backend: state in LMDB under `dataDir` (persistent, transactional, crash-safe),
 * events through an in-process broker. ETags are decimal numbers drawn from one persistent
 * counter, so an ETag is never reused, not even after a delete and re-create.
 */
import { mkdirSync } from "node:fs";
import { open, type Database, type RootDatabase } from "lmdb";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { StreamEventSchema, type StreamEvent } from "../../../gen/virtufin/api/v1/common_pb.js";
import { EtagInvalidError, EtagMismatchError, NotReadyError } from "../../errors.js";
import type { BackendSubscription, DaprAdapter, StoredValue, TopicHandlers } from "../adapter.js";
import { InProcessBroker } from "./in-process-broker.js";

interface Row {
  readonly v: string;
  readonly e: string;
}

const ETAG = /^[1-9][0-9]{0,19}$/;

export interface EmbeddedAdapterOptions {
  /** Folder of the LMDB environment (default ./data). */
  readonly dataDir: string;
}

export class EmbeddedAdapter implements DaprAdapter {
  readonly kind = "embedded" as const;
  private root: RootDatabase | undefined;
  private values: Database<Row, string> | undefined;
  private index: Database<true, string> | undefined;
  private meta: Database<number, string> | undefined;
  private readonly broker = new InProcessBroker();

  constructor(private readonly options: EmbeddedAdapterOptions) {}

  async start(): Promise<void> {
    mkdirSync(this.options.dataDir, { recursive: true });
    this.root = open({ path: this.options.dataDir, maxDbs: 8, compression: false });
    this.values = this.root.openDB<Row, string>({ name: "state", encoding: "msgpack" });
    this.index = this.root.openDB<true, string>({ name: "key-index", encoding: "msgpack" });
    this.meta = this.root.openDB<number, string>({ name: "meta", encoding: "msgpack" });
  }

  private dbs() {
    if (this.values === undefined || this.index === undefined || this.meta === undefined || this.root === undefined) {
      throw new NotReadyError("the embedded store is not open");
    }
    return { root: this.root, values: this.values, index: this.index, meta: this.meta };
  }

  async getState(store: string, service: string, key: string): Promise<StoredValue | undefined> {
    const row = this.dbs().values.get(rowKey(store, service, key));
    return row === undefined ? undefined : { value: row.v, etag: row.e };
  }

  async getBulkState(store: string, service: string, keys: readonly string[]): Promise<Map<string, StoredValue>> {
    const rows = await this.dbs().values.getMany(keys.map((k) => rowKey(store, service, k)));
    const out = new Map<string, StoredValue>();
    keys.forEach((k, i) => {
      const row = rows[i];
      if (row !== undefined) out.set(k, { value: row.v, etag: row.e });
    });
    return out;
  }

  // Value, ETag counter and key index change in one LMDB transaction: all or nothing.
  async saveState(store: string, service: string, key: string, value: string, etag: string | undefined): Promise<void> {
    checkEtag(etag);
    const { values, index, meta } = this.dbs();
    await values.transaction(() => {
      const current = values.get(rowKey(store, service, key));
      if (etag !== undefined && current?.e !== etag) throw mismatch(key, current);
      const next = (meta.get("etag-seq") ?? 0) + 1;
      meta.put("etag-seq", next);
      values.put(rowKey(store, service, key), { v: value, e: String(next) });
      index.put(rowKey(store, service, key), true);
    });
  }

  async deleteState(store: string, service: string, key: string, etag: string | undefined): Promise<void> {
    checkEtag(etag);
    const { values, index } = this.dbs();
    await values.transaction(() => {
      const current = values.get(rowKey(store, service, key));
      if (etag !== undefined && current?.e !== etag) throw mismatch(key, current);
      values.remove(rowKey(store, service, key));
      index.remove(rowKey(store, service, key));
    });
  }

  async addToIndex(store: string, service: string, keys: readonly string[]): Promise<void> {
    const { index } = this.dbs();
    await index.transaction(() => {
      for (const k of keys) index.put(rowKey(store, service, k), true);
    });
  }

  async readIndex(store: string, service: string): Promise<string[]> {
    const prefix = rowKey(store, service, "");
    // Keys hold no "|" and no control characters, so every key of the service sorts between
    // the prefix and the prefix followed by "\x7f".
    const range = this.dbs().index.getKeys({ start: prefix, end: `${prefix}\x7f` });
    return [...range].map((k) => k.slice(prefix.length));
  }

  async publish(pubsub: string, topic: string, event: StreamEvent): Promise<void> {
    this.broker.publish(`${pubsub}/${topic}`, toBinary(StreamEventSchema, event));
  }

  subscribe(pubsub: string, topic: string, handlers: TopicHandlers): BackendSubscription {
    const unsubscribe = this.broker.subscribe(`${pubsub}/${topic}`, (bytes) =>
      handlers.onEvent(fromBinary(StreamEventSchema, bytes)),
    );
    queueMicrotask(() => handlers.onStatus("connected"));
    return {
      close: async () => {
        unsubscribe();
      },
    };
  }

  async close(): Promise<void> {
    const root = this.root;
    this.root = this.values = this.index = this.meta = undefined;
    await root?.close();
  }
}

/** `<store>\0<service>||<key>`: the store component, then Dapr's own key layout. */
function rowKey(store: string, service: string, key: string): string {
  return `${store}\x00${service}||${key}`;
}

function checkEtag(etag: string | undefined): void {
  if (etag !== undefined && !ETAG.test(etag)) {
    throw new EtagInvalidError(`etag "${etag.slice(0, 64)}" is malformed: this store's ETags are decimal numbers`);
  }
}

function mismatch(key: string, current: Row | undefined): EtagMismatchError {
  return new EtagMismatchError(
    current === undefined
      ? `etag mismatch for key "${key}": the key has no value`
      : `etag mismatch for key "${key}": the stored etag is different`,
  );
}
