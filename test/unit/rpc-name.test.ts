import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Pubsub } from "../../gen/virtufin/api/v1/pubsub_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import { rpcName } from "../../src/server/rpc-name.js";

describe("rpcName", () => {
  it("names a method <service type name>/<method name>", () => {
    assert.equal(rpcName(State, State.method.getState), "virtufin.api.v1.State/GetState");
    assert.equal(rpcName(Pubsub, Pubsub.method.subscribe), "virtufin.api.v1.Pubsub/Subscribe");
  });

  it("names a request that an interceptor pointed at another service by that service", () => {
    assert.equal(rpcName(Pubsub, State.method.getState), "virtufin.api.v1.Pubsub/GetState");
    assert.equal(rpcName(State, State.method.getState), "virtufin.api.v1.State/GetState", "and the cached name is untouched");
  });
});
