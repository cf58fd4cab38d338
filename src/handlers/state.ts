import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { StatusResponseSchema } from "../../gen/virtufin/api/v1/common_pb.js";
import { State } from "../../gen/virtufin/api/v1/state_pb.js";
import type { HandlerDeps } from "./deps.js";
import { optionalEtag, requireKey, requireKeyList, requireService, requireValue } from "./validation.js";

const ok = () => create(StatusResponseSchema, { success: true, message: "OK" });

export function createStateHandlers(deps: HandlerDeps): ServiceImpl<typeof State> {
  const { registry, state, limits } = deps;
  return {
    async saveState(req, ctx) {
      const service = requireService(registry, req.service);
      const key = requireKey(req.key, limits);
      const value = requireValue(req.value, limits);
      const etag = optionalEtag(req.etag);
      await state.save(service, key, value, etag, req.includeValue, ctx.signal);
      return { status: ok() };
    },

    async getState(req, ctx) {
      const service = requireService(registry, req.service);
      const key = requireKey(req.key, limits);
      const stored = await state.get(service, key, ctx.signal);
      return { key, value: stored?.value ?? "", etag: stored?.etag ?? "", found: stored !== undefined };
    },

    async getAllState(req, ctx) {
      const service = requireService(registry, req.service);
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
      const keys = requireKeyList(req.keys, limits);
      await state.registerKeys(service, keys, ctx.signal);
      return { status: ok() };
    },

    async deleteState(req, ctx) {
      const service = requireService(registry, req.service);
      const key = requireKey(req.key, limits);
      const etag = optionalEtag(req.etag);
      await state.delete(service, key, etag, req.includeValue, ctx.signal);
      return { status: ok() };
    },
  };
}
