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

const ETAG = /^[1-9][0-9]{0,15}$/;
const ETAG_SEQUENCE = "etag-seq";

export interface EmbeddedAdapterOptions {
  /** Folder of the LMDB environment (default ./data). */
  readonly dataDir: string;
}

/**
 * Values live in an LMDB database with versions: a value's ETag is its LMDB version, and
 * conditional writes use LMDB's own `ifVersion`, which checks and writes in one transaction.
 * (lmdb's async `transaction()` never settles on this machine's Node 20; `ifVersion` and `batch`
 * do, and are all we need.)
 */
export class EmbeddedAdapter implements DaprAdapter {
  readonly kind = "embedded" as const;
  private root: RootDatabase | undefined;
  private values: Database<string, string> | undefined;
  private index: Database<true, string> | undefined;
  private meta: Database<number, string> | undefined;
  private lastEtag = 0;
  private readonly broker = new InProcessBroker();

  constructor(private readonly options: EmbeddedAdapterOptions) {}

  async start(): Promise<void> {
    mkdirSync(this.options.dataDir, { recursive: true });
    // noSubdir: false, or lmdb takes a folder name with a dot (/tmp/tmp.Xy12) for a file name.
    this.root = open({ path: this.options.dataDir, noSubdir: false, maxDbs: 8, compression: false });
    this.values = this.root.openDB<string, string>({ name: "state", encoding: "msgpack", useVersions: true });
    this.index = this.root.openDB<true, string>({ name: "key-index", encoding: "msgpack" });
    this.meta = this.root.openDB<number, string>({ name: "meta", encoding: "msgpack" });
    this.lastEtag = this.meta.get(ETAG_SEQUENCE) ?? 0;
  }

  private dbs() {
    if (this.values === undefined || this.index === undefined || this.meta === undefined) {
      throw new NotReadyError("the embedded store is not open");
    }
    return { values: this.values, index: this.index, meta: this.meta };
  }

  /** The next ETag; persisted with the write that uses it, so ETags are never reused. */
  private nextEtag(meta: Database<number, string>): number {
    this.lastEtag++;
    meta.put(ETAG_SEQUENCE, this.lastEtag);
    return this.lastEtag;
  }

  async getState(store: string, service: string, key: string): Promise<StoredValue | undefined> {
    const entry = this.dbs().values.getEntry(rowKey(store, service, key));
    return entry === undefined ? undefined : { value: entry.value, etag: String(entry.version) };
  }

  async getBulkState(store: string, service: string, keys: readonly string[]): Promise<Map<string, StoredValue>> {
    const { values } = this.dbs();
    const out = new Map<string, StoredValue>();
    for (const k of keys) {
      const entry = values.getEntry(rowKey(store, service, k));
      if (entry !== undefined) out.set(k, { value: entry.value, etag: String(entry.version) });
    }
    return out;
  }

  async saveState(store: string, service: string, key: string, value: string, etag: string | undefined): Promise<void> {
    checkEtag(etag);
    const { values, index, meta } = this.dbs();
    const k = rowKey(store, service, key);
    const write = () => {
      values.put(k, value, this.nextEtag(meta));
      index.put(k, true);
    };
    if (etag === undefined) {
      await values.batch(write);
    } else if (!(await values.ifVersion(k, Number(etag), write))) {
      throw mismatch(key, values.doesExist(k));
    }
  }

  async deleteState(store: string, service: string, key: string, etag: string | undefined): Promise<void> {
    checkEtag(etag);
    const { values, index } = this.dbs();
    const k = rowKey(store, service, key);
    const remove = () => {
      values.remove(k);
      index.remove(k);
    };
    if (etag === undefined) {
      await values.batch(remove);
    } else if (!(await values.ifVersion(k, Number(etag), remove))) {
      throw mismatch(key, values.doesExist(k));
    }
  }

  async addToIndex(store: string, service: string, keys: readonly string[]): Promise<void> {
    const { index } = this.dbs();
    await index.batch(() => {
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

function mismatch(key: string, exists: boolean): EtagMismatchError {
  return new EtagMismatchError(
    !exists
      ? `etag mismatch for key "${key}": the key has no value`
      : `etag mismatch for key "${key}": the stored etag is different`,
  );
}
