/**
 * A call's context values, as Connect's createContextValues() keeps them (each value under its
 * key's symbol on the object itself, the key's default when absent), with the three methods on a
 * prototype: Connect's object literal makes three new functions per call, and an idle Subscribe
 * stream keeps its values for its whole life.
 */
import type { ContextKey, ContextValues } from "@connectrpc/connect";

type Slots = Record<symbol, unknown>;

export class CallValues implements ContextValues {
  get<T>(key: ContextKey<T>): T {
    return key.id in this ? ((this as unknown as Slots)[key.id] as T) : key.defaultValue;
  }

  set<T>(key: ContextKey<T>, value: T): this {
    (this as unknown as Slots)[key.id] = value;
    return this;
  }

  delete(key: ContextKey<unknown>): this {
    delete (this as unknown as Slots)[key.id];
    return this;
  }
}
