/**
 * "<service>/<method>", the name logs, metrics and spans give an RPC: built once per method and
 * shared, rather than a new string per call that an idle stream would keep for its whole life.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";

const names = new WeakMap<DescMethod, string>();

export function rpcName(service: DescService, method: DescMethod): string {
  // An interceptor may hand on a request naming another service than the method's own.
  if (method.parent !== service) return `${service.typeName}/${method.name}`;
  let name = names.get(method);
  if (name === undefined) names.set(method, (name = `${service.typeName}/${method.name}`));
  return name;
}
