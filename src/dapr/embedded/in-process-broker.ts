/**
 * The embedded backend's broker: topics live in this process. Publishing copies the encoded
 * event to every subscription of the topic; each subscription receives its events in order and
 * one at a time (the next is handed over when the handler's promise settles, like an ack).
 */
type Handler = (bytes: Uint8Array) => void | Promise<void>;

interface Subscription {
  readonly handler: Handler;
  chain: Promise<void>;
  open: boolean;
}

export class InProcessBroker {
  private readonly topics = new Map<string, Set<Subscription>>();

  publish(topic: string, bytes: Uint8Array): void {
    const subs = this.topics.get(topic);
    if (subs === undefined) return;
    for (const sub of subs) {
      sub.chain = sub.chain.then(async () => {
        if (!sub.open) return;
        try {
          await sub.handler(bytes);
        } catch {
          // A failing handler must not stall the topic; the gateway's handler never throws.
        }
      });
    }
  }

  subscribe(topic: string, handler: Handler): () => void {
    const sub: Subscription = { handler, chain: Promise.resolve(), open: true };
    let subs = this.topics.get(topic);
    if (subs === undefined) this.topics.set(topic, (subs = new Set()));
    subs.add(sub);
    return () => {
      sub.open = false;
      subs.delete(sub);
      if (subs.size === 0) this.topics.delete(topic);
    };
  }
}
