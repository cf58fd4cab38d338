#!/usr/bin/env node
// Creates the JetStream stream the pubsub.jetstream component publishes into (Dapr never creates
// streams): `node scripts/jetstream-stream.mjs [--url nats://127.0.0.1:4222] [--name VIRTUFIN] [--subjects "virtufin.>"]`.
// Idempotent: an existing stream with that name is left as it is.
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: process.env.NATS_URL ?? "nats://127.0.0.1:4222" },
    name: { type: "string", default: "VIRTUFIN" },
    subjects: { type: "string", default: "virtufin.>" },
  },
});
const nc = await connect({ servers: values.url });
try {
  const jsm = await jetstreamManager(nc);
  try {
    const info = await jsm.streams.info(values.name);
    console.log(`stream ${values.name} exists (subjects ${info.config.subjects.join(", ")})`);
  } catch {
    await jsm.streams.add({ name: values.name, subjects: values.subjects.split(",") });
    console.log(`created stream ${values.name} for subjects ${values.subjects}`);
  }
} finally {
  await nc.close();
}
