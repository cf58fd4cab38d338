import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { identityKey } from "../auth/access-control.js";
import { canReadState, canWriteState } from "../auth/permissions.js";
import { StatusResponseSchema } from "../../gen/virtufin/api/v1/common_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import type { HandlerDeps } from "./deps.js";
import { optionalEtag, requireKey, requireKeyList, requireService, requireValue } from "./validation.js";

const ok = () => create(StatusResponseSchema, { success: true, message: "OK" });

export function createStateHandlers(deps: HandlerDeps): ServiceImpl<typeof State> {
  const { registry, state, limits, policy, audit } = deps;
  const mayWrite = (ctx: HandlerContext, service: string) => {
    const decision = canWriteState(policy.identityOf(ctx.values.get(identityKey), service), service);
    if (!decision.ok) throw audit.refuse(ctx, `state of ${service}`, decision.rule, decision.message);
  };
  const mayRead = (ctx: HandlerContext, service: string) => {
    const identity = policy.identityOf(ctx.values.get(identityKey), service);
    const decision = canReadState(identity, policy.permissionsOf(identity), service);
    if (!decision.ok) throw audit.refuse(ctx, `state of ${service}`, decision.rule, decision.message);
  };
  return {
    async saveState(req, ctx) {
      const service = requireService(registry, req.service);
      mayWrite(ctx, service.name);
      const key = requireKey(req.key, limits);
      const value = requireValue(req.value, limits);
      const etag = optionalEtag(req.etag);
      await state.save(service, key, value, etag, req.includeValue, ctx.signal);
      return { status: ok() };
    },

    async getState(req, ctx) {
      const service = requireService(registry, req.service);
      mayRead(ctx, service.name);
      const key = requireKey(req.key, limits);
      const stored = await state.get(service, key, ctx.signal);
      return { key, value: stored?.value ?? "", etag: stored?.etag ?? "", found: stored !== undefined };
    },

    async getAllState(req, ctx) {
      const service = requireService(registry, req.service);
      mayRead(ctx, service.name);
      const all = await state.getAll(service, ctx.signal);
      const values: Record<string, string> = {};
      const etags: Record<string, string> = {};
      for (const [k, v] of all) {
        values[k] = v.value;
        etags[k] = v.etag;
      }
      return { values, etags };
    },

    async registerKeys(req, ctx) {
      const service = requireService(registry, req.service);
      mayWrite(ctx, service.name);
      const keys = requireKeyList(req.keys, limits);
      await state.registerKeys(service, keys, ctx.signal);
      return { status: ok() };
    },

    async deleteState(req, ctx) {
      const service = requireService(registry, req.service);
      mayWrite(ctx, service.name);
      const key = requireKey(req.key, limits);
      const etag = optionalEtag(req.etag);
      await state.delete(service, key, etag, req.includeValue, ctx.signal);
      return { status: ok() };
    },
  };
}
