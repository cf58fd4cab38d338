/**
 * Baseline "a grpc-js gateway doing the same backend call" (W3 saturation): a @grpc/grpc-js server
 * exposing virtufin.api.v1.State GetState/SaveState (generic service definition, protobuf-es
 * toBinary/fromBinary of the real messages from gen/) whose handlers call daprd's gRPC API
 * (dapr.proto.runtime.v1.Dapr GetState/SaveState) through one @grpc/grpc-js channel, with the
 * messages of @dapr/dapr's protobuf-es descriptors. It uses the gateway's key layout
 * (`<service>:<key>`, store "statestore") so both read the same entries.
 *
 * What it does not do, on purpose: no key index (the gateway's SaveState also keeps the service's
 * key index, i.e. more daprd calls per save), no state-change event, no service check, no logging,
 * no retries or circuit breaker. It is the floor of "Node + grpc-js in front of daprd".
 *
 * Usage: a child of bench/run.ts (IPC) with `--dapr-grpc-port <port>`; sends {type: "listening", port}.
 */
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  GetStateRequestSchema as DaprGetStateRequestSchema,
  GetStateResponseSchema as DaprGetStateResponseSchema,
  SaveStateRequestSchema as DaprSaveStateRequestSchema,
} from "@dapr/dapr/proto/dapr/proto/runtime/v1/dapr_pb.js";
import { StateOptions_StateConcurrency } from "@dapr/dapr/proto/dapr/proto/common/v1/common_pb.js";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { StatusResponseSchema } from "../../gen/virtufin/api/v1/common_pb.js";
import {
  GetStateRequestSchema,
  GetStateResponseSchema,
  SaveStateRequestSchema,
  SaveStateResponseSchema,
  type GetStateRequest,
  type GetStateResponse,
  type SaveStateRequest,
  type SaveStateResponse,
} from "../../gen/virtufin/api/v1/state_pb.js";
import { serveIpc } from "../lib/proc.js";

const STORE = "statestore";

/** grpc-js (de)serialisers of a protobuf-es message. */
function codec<D extends DescMessage>(schema: D) {
  return {
    serialize: (m: MessageShape<D>) => Buffer.from(toBinary(schema, m)),
    deserialize: (b: Buffer) => fromBinary(schema, b),
  };
}

function unaryMethod<I extends DescMessage, O extends DescMessage>(path: string, input: I, output: O): grpc.MethodDefinition<MessageShape<I>, MessageShape<O>> {
  const i = codec(input);
  const o = codec(output);
  return { path, requestStream: false, responseStream: false, requestSerialize: i.serialize, requestDeserialize: i.deserialize, responseSerialize: o.serialize, responseDeserialize: o.deserialize };
}

function daprGrpcPort(argv: readonly string[]): number {
  const i = argv.indexOf("--dapr-grpc-port");
  const port = i < 0 ? Number.NaN : Number(argv[i + 1]);
  if (!Number.isInteger(port) || port <= 0) throw new Error("grpc-js-gateway: --dapr-grpc-port <port> is required");
  return port;
}

const daprGetState = codec(DaprGetStateRequestSchema);
const daprGetStateResponse = codec(DaprGetStateResponseSchema);
const daprSaveState = codec(DaprSaveStateRequestSchema);
const daprEmpty = codec(EmptySchema);

// One channel to daprd, as the gateway keeps one HTTP/2 session to it.
const dapr = new grpc.Client(`127.0.0.1:${daprGrpcPort(process.argv)}`, grpc.credentials.createInsecure());

/** A daprd error goes back to the caller with its code; a bare Error becomes INTERNAL. */
function asServiceError(err: grpc.ServiceError): Partial<grpc.StatusObject> {
  return { code: err.code ?? grpc.status.INTERNAL, details: err.details ?? err.message };
}

const definition = {
  GetState: unaryMethod("/virtufin.api.v1.State/GetState", GetStateRequestSchema, GetStateResponseSchema),
  SaveState: unaryMethod("/virtufin.api.v1.State/SaveState", SaveStateRequestSchema, SaveStateResponseSchema),
} satisfies grpc.ServiceDefinition;

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

const server = new grpc.Server({ "grpc.max_concurrent_streams": 100_000 });
server.addService(definition, {
  GetState: (call: grpc.ServerUnaryCall<GetStateRequest, GetStateResponse>, callback: grpc.sendUnaryData<GetStateResponse>) => {
    const { service, key } = call.request;
    dapr.makeUnaryRequest(
      "/dapr.proto.runtime.v1.Dapr/GetState",
      daprGetState.serialize,
      daprGetStateResponse.deserialize,
      create(DaprGetStateRequestSchema, { storeName: STORE, key: `${service}:${key}` }),
      (err, res) => {
        if (err !== null || res === undefined) return callback(err === null ? { code: grpc.status.INTERNAL, details: "no response" } : asServiceError(err));
        const found = res.etag !== "";
        callback(null, create(GetStateResponseSchema, { key, value: found ? textDecoder.decode(res.data) : "", etag: res.etag, found }));
      },
    );
  },
  SaveState: (call: grpc.ServerUnaryCall<SaveStateRequest, SaveStateResponse>, callback: grpc.sendUnaryData<SaveStateResponse>) => {
    const { service, key, value, etag } = call.request;
    // As the gateway: an ETag makes the save conditional (first write wins).
    dapr.makeUnaryRequest(
      "/dapr.proto.runtime.v1.Dapr/SaveState",
      daprSaveState.serialize,
      daprEmpty.deserialize,
      create(DaprSaveStateRequestSchema, { storeName: STORE, states: [{ key: `${service}:${key}`, value: textEncoder.encode(value), ...(etag !== "" ? { etag: { value: etag }, options: { concurrency: StateOptions_StateConcurrency.CONCURRENCY_FIRST_WRITE } } : {}) }] }),
      (err) => {
        if (err !== null) return callback(asServiceError(err));
        callback(null, create(SaveStateResponseSchema, { status: create(StatusResponseSchema, { success: true, message: "OK" }) }));
      },
    );
  },
});

serveIpc({});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err !== null) throw err;
  process.send?.({ type: "listening", port });
});
