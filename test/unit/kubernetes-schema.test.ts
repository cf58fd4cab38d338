/**
 * deploy/kubernetes validated against schemas, as `kubectl apply --validate=strict` would:
 * - Deployment, Service and PodDisruptionBudget against the Kubernetes OpenAPI schemas
 *   (kubernetes-models, from npm): types, enums, required fields. (Those compiled validators do
 *   not flag unknown fields.)
 * - Dapr Component and Configuration against the CRDs of the Dapr version we build
 *   (charts/dapr/crds in the github.com/dapr/dapr module that tools/daprd/build.sh downloads),
 *   with the API server's structural rule: a field the schema does not declare is an error
 *   unless the schema preserves unknown fields.
 * Each validator is also shown a broken copy, so a validator that accepts anything fails here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { Ajv, type ValidateFunction } from "ajv";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Service } from "kubernetes-models/v1";
import { parseAllDocuments } from "yaml";

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonMap = { [key: string]: Json };

const REPO = join(import.meta.dirname, "..", "..");
const MANIFESTS = join(REPO, "deploy", "kubernetes");

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return yamlFiles(path);
      return /\.ya?ml$/.test(name) ? [path] : [];
    });
}

function documents(path: string): JsonMap[] {
  return parseAllDocuments(readFileSync(path, "utf8")).map((d) => {
    assert.deepEqual(d.errors, [], path);
    return d.toJS() as JsonMap;
  });
}

const docs = yamlFiles(MANIFESTS).flatMap((path) => documents(path).map((obj) => ({ file: relative(REPO, path), obj })));

// ---------------------------------------------------------------------------------------------
// Kubernetes kinds

const coreModels: Record<string, (obj: JsonMap) => { validate(): void }> = {
  "apps/v1 Deployment": (obj) => new Deployment(obj as never),
  "v1 Service": (obj) => new Service(obj as never),
  "policy/v1 PodDisruptionBudget": (obj) => new PodDisruptionBudget(obj as never),
};

// ---------------------------------------------------------------------------------------------
// Dapr kinds: the CRDs of the Dapr version in tools/daprd/go.mod, from Go's module cache

function daprCrdDir(): { dir?: string; why: string } {
  const version = /github\.com\/dapr\/dapr (v\S+)/.exec(readFileSync(join(REPO, "tools", "daprd", "go.mod"), "utf8"))?.[1];
  if (version === undefined) return { why: "tools/daprd/go.mod names no github.com/dapr/dapr version" };
  const go = spawnSync("go", ["env", "GOMODCACHE"], { encoding: "utf8" });
  if (go.status !== 0) return { why: "Go is not installed (needed to locate the Dapr module with its CRDs)" };
  const dir = join(go.stdout.trim(), "github.com", "dapr", `dapr@${version}`, "charts", "dapr", "crds");
  if (!existsSync(dir)) return { why: `${dir} is missing: run tools/daprd/build.sh (it downloads the Dapr module)` };
  return { dir, why: "" };
}

/**
 * The API server's structural-schema rule, made explicit for ajv: an object schema that lists its
 * properties admits no others, unless it says x-kubernetes-preserve-unknown-fields or gives
 * additionalProperties itself.
 */
function strictStructural(schema: JsonMap): JsonMap {
  const out: JsonMap = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "properties" && value !== null && typeof value === "object" && !Array.isArray(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, strictStructural(sub as JsonMap)]));
    } else if ((key === "items" || key === "additionalProperties") && value !== null && typeof value === "object" && !Array.isArray(value)) {
      out[key] = strictStructural(value);
    } else {
      out[key] = value;
    }
  }
  if (out["properties"] !== undefined && out["additionalProperties"] === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true) {
    out["additionalProperties"] = false;
  }
  return out;
}

function daprValidators(dir: string): Map<string, ValidateFunction> {
  // strict: false because the schemas carry x-kubernetes-* keywords ajv does not know.
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validators = new Map<string, ValidateFunction>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    for (const crd of documents(join(dir, file))) {
      const spec = crd["spec"] as JsonMap;
      const group = spec["group"] as string;
      const kind = (spec["names"] as JsonMap)["kind"] as string;
      for (const version of spec["versions"] as JsonMap[]) {
        const schema = (version["schema"] as JsonMap)["openAPIV3Schema"] as JsonMap;
        validators.set(`${group}/${version["name"] as string} ${kind}`, ajv.compile(strictStructural(schema)));
      }
    }
  }
  return validators;
}

const crds = daprCrdDir();
const skipDapr = crds.dir === undefined && process.env["CI"] !== "true" ? crds.why : false;

describe("Kubernetes manifests against their schemas", () => {
  it("every document is a kind we validate", () => {
    assert.ok(docs.length >= 7, `found ${docs.length} documents`);
    for (const { file, obj } of docs) {
      const key = `${obj["apiVersion"] as string} ${obj["kind"] as string}`;
      assert.ok(key in coreModels || key.startsWith("dapr.io/"), `${file}: no schema for ${key}`);
    }
  });

  for (const { file, obj } of docs.filter((d) => `${d.obj["apiVersion"] as string} ${d.obj["kind"] as string}` in coreModels)) {
    const key = `${obj["apiVersion"] as string} ${obj["kind"] as string}`;
    it(`${file}: ${key} is valid`, () => {
      coreModels[key]!(obj).validate();
    });
  }

  it("the Kubernetes validator rejects a broken Deployment (negative control)", () => {
    const deployment = structuredClone(docs.find((d) => d.obj["kind"] === "Deployment")!.obj);
    (deployment["spec"] as JsonMap)["replicas"] = "three";
    assert.throws(() => coreModels["apps/v1 Deployment"]!(deployment).validate(), /replicas must be integer/);
  });

  it("Dapr components and configuration are valid against the Dapr CRDs", { skip: skipDapr }, () => {
    assert.ok(crds.dir !== undefined, `CI=true: ${crds.why}`);
    const validators = daprValidators(crds.dir);
    const daprDocs = docs.filter((d) => (d.obj["apiVersion"] as string).startsWith("dapr.io/"));
    assert.ok(daprDocs.length >= 4, `found ${daprDocs.length} Dapr documents`);
    for (const { file, obj } of daprDocs) {
      const key = `${obj["apiVersion"] as string} ${obj["kind"] as string}`;
      const validate = validators.get(key);
      assert.ok(validate !== undefined, `${file}: Dapr ${crds.dir} has no CRD for ${key} (known: ${[...validators.keys()].join(", ")})`);
      assert.ok(validate(obj), `${file}: ${JSON.stringify(validate.errors)}`);
    }

    // Negative controls: a misspelt field and a wrongly typed one are refused.
    const component = structuredClone(daprDocs.find((d) => d.obj["kind"] === "Component")!.obj);
    (component["spec"] as JsonMap)["versoin"] = "v1";
    const validateComponent = validators.get("dapr.io/v1alpha1 Component")!;
    assert.equal(validateComponent(component), false);
    assert.match(JSON.stringify(validateComponent.errors), /additionalProperty.*versoin/);
    const typed = structuredClone(daprDocs.find((d) => d.obj["kind"] === "Component")!.obj);
    (typed["spec"] as JsonMap)["metadata"] = "not a list";
    assert.equal(validateComponent(typed), false);
  });
});
