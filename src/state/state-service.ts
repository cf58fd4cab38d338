/**
 * State operations on behalf of a service: values and ETags through the adapter, and one state
 * change event on `state-changes` per successful mutation (none for failed or no-op ones).
 */
import { randomUUID } from "node:crypto";
import type { DaprAdapter, StoredValue } from "../dapr/adapter.js";
import { EtagMismatchError } from "../errors.js";
import { serviceSource } from "../events/cloudevents.js";
import type { EventPublisher } from "../events/publisher.js";
import { GATEWAY_SERVICE, type ServiceEntry } from "../services/registry.js";
import { STATE_CHANGES_TOPIC } from "../topics/topics.js";

export type StateAction = "save" | "delete";

/** The payload of a state change event, as the source documents define it. */
export interface StateChange {
  readonly service: string;
  readonly key: string;
  readonly action: StateAction;
  readonly value?: string;
}

/** How often an unconditional delete re-reads a value that changed under it before giving up. */
const DELETE_ATTEMPTS = 8;

export class StateService {
  constructor(
    private readonly adapter: DaprAdapter,
    private readonly publisher: EventPublisher,
  ) {}

  get(service: ServiceEntry, key: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    return this.adapter.getState(service.stateStoreName, service.name, key, signal);
  }

  async getAll(service: ServiceEntry, signal?: AbortSignal): Promise<Map<string, StoredValue>> {
    const keys = await this.adapter.readIndex(service.stateStoreName, service.name, signal);
    if (keys.length === 0) return new Map();
    return this.adapter.getBulkState(service.stateStoreName, service.name, keys, signal);
  }

  async save(
    service: ServiceEntry,
    key: string,
    value: string,
    etag: string | undefined,
    includeValue: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.adapter.saveState(service.stateStoreName, service.name, key, value, etag, signal);
    await this.announce(service, { service: service.name, key, action: "save", ...(includeValue ? { value } : {}) }, signal);
  }

  registerKeys(service: ServiceEntry, keys: readonly string[], signal?: AbortSignal): Promise<void> {
    return this.adapter.addToIndex(service.stateStoreName, service.name, keys, signal);
  }

  /**
   * Deletes a key. The delete is always conditional on the ETag that was read, so the event's
   * value is exactly the value deleted; without a caller ETag a concurrent change is re-read.
   * Deleting a missing key is OK and announces nothing.
   */
  async delete(
    service: ServiceEntry,
    key: string,
    etag: string | undefined,
    includeValue: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.adapter.getState(service.stateStoreName, service.name, key, signal);
      if (etag !== undefined) {
        // The adapter is the authority on the ETag; this read only supplies the event's value.
        await this.adapter.deleteState(service.stateStoreName, service.name, key, etag, signal);
      } else {
        if (current === undefined) return;
        try {
          await this.adapter.deleteState(service.stateStoreName, service.name, key, current.etag, signal);
        } catch (err) {
          if (err instanceof EtagMismatchError && attempt < DELETE_ATTEMPTS) continue;
          throw err;
        }
      }
      const value = current?.value;
      await this.announce(
        service,
        { service: service.name, key, action: "delete", ...(includeValue && value !== undefined ? { value } : {}) },
        signal,
      );
      return;
    }
  }

  private async announce(service: ServiceEntry, change: StateChange, signal?: AbortSignal): Promise<void> {
    const id = randomUUID();
    await this.publisher.publish(
      {
        pubsub: service.pubsubName,
        service: service.name,
        topic: STATE_CHANGES_TOPIC,
        eventType: "state",
        data: new TextEncoder().encode(JSON.stringify(change)),
        metadata: {
          "ce-id": id,
          "ce-source": serviceSource(GATEWAY_SERVICE),
          "ce-type": `com.virtufin.state.${change.action}`,
          "ce-time": new Date().toISOString(),
          "ce-specversion": "1.0",
          "ce-datacontenttype": "application/json",
          "ce-subject": `${change.service}/${change.key}`,
        },
      },
      signal,
    );
  }
}
