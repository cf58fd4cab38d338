/**
 * Structural checks of deploy/kubernetes/**\/*.yaml: what the API server (or the Dapr
 * operator) would reject, or what would silently misbehave (selector/label mismatch, probes
 * on a missing port, Redis pub/sub replicas competing instead of fanning out). The schemas
 * themselves are checked in kubernetes-schema.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };
type YamlMap = { [key: string]: Yaml };

const ROOT = join(import.meta.dirname, "..", "..", "deploy", "kubernetes");

/** Every document of a file; a syntax error or a duplicate key fails the test. */
function parseYamlDocuments(source: string, file: string): Yaml[] {
  return parseAllDocuments(source).map((d) => {
    assert.deepEqual(d.errors, [], `${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    return d.toJS() as Yaml;
  });
}

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return yamlFiles(path);
      return /\.ya?ml$/.test(name) ? [path] : [];
    });
}

interface Doc {
  file: string;
  obj: YamlMap;
}

function isMap(v: Yaml | undefined): v is YamlMap {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function map(v: Yaml | undefined, what: string): YamlMap {
  assert.ok(isMap(v), `${what}: expected a mapping, got ${JSON.stringify(v)}`);
  return v;
}

function list(v: Yaml | undefined, what: string): Yaml[] {
  assert.ok(Array.isArray(v), `${what}: expected a list, got ${JSON.stringify(v)}`);
  return v;
}

function str(v: Yaml | undefined, what: string): string {
  assert.equal(typeof v, "string", `${what}: expected a string, got ${JSON.stringify(v)}`);
  return v as string;
}

const files = yamlFiles(ROOT);
const docs: Doc[] = files.flatMap((path) => {
  const file = relative(join(ROOT, "..", ".."), path);
  return parseYamlDocuments(readFileSync(path, "utf8"), file).map((obj) => ({ file, obj: map(obj, file) }));
});

function ofKind(kind: string): Doc[] {
  return docs.filter((d) => d.obj["kind"] === kind);
}

function only(kind: string): Doc {
  const found = ofKind(kind);
  assert.equal(found.length, 1, `expected exactly one ${kind}, found ${found.length}`);
  return found[0] as Doc;
}

/** Does a label selector's matchLabels (or a Service's plain selector) select these labels? */
function selects(selector: YamlMap, labels: YamlMap): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

test("every manifest has apiVersion, kind and metadata.name", () => {
  assert.ok(files.length >= 7, `expected the manifests under ${ROOT}, found ${files.length} files`);
  for (const { file, obj } of docs) {
    str(obj["apiVersion"], `${file}: apiVersion`);
    str(obj["kind"], `${file}: kind`);
    const name = str(map(obj["metadata"], `${file}: metadata`)["name"], `${file}: metadata.name`);
    assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${file}: metadata.name must be a DNS label`);
  }
  const kinds = docs.map((d) => `${d.obj["apiVersion"]} ${d.obj["kind"]}`).sort();
  assert.deepEqual(kinds, [
    "apps/v1 Deployment",
    "dapr.io/v1alpha1 Component",
    "dapr.io/v1alpha1 Component",
    "dapr.io/v1alpha1 Component",
    "dapr.io/v1alpha1 Configuration",
    "policy/v1 PodDisruptionBudget",
    "v1 Service",
  ]);
});

const deployment = only("Deployment");
const dspec = map(deployment.obj["spec"], "Deployment spec");
const template = map(dspec["template"], "Deployment spec.template");
const podLabels = map(map(template["metadata"], "template.metadata")["labels"], "template.metadata.labels");
const podSpec = map(template["spec"], "template.spec");
const containers = list(podSpec["containers"], "template.spec.containers").map((c, i) => map(c, `containers[${i}]`));

test("Deployment: 3 replicas, selector matches the pod template labels", () => {
  assert.equal(dspec["replicas"], 3);
  const matchLabels = map(map(dspec["selector"], "spec.selector")["matchLabels"], "spec.selector.matchLabels");
  assert.ok(Object.keys(matchLabels).length > 0, "empty selector");
  assert.ok(selects(matchLabels, podLabels), "spec.selector.matchLabels must match spec.template.metadata.labels");
  for (const v of Object.values(podLabels)) assert.equal(typeof v, "string", "label values must be strings");
});

test("Deployment: the gateway container (image, args, env, port, probes, resources, security)", () => {
  assert.equal(containers.length, 1, "only the gateway; daprd is injected");
  const c = containers[0] as YamlMap;
  assert.equal(c["image"], "virtufin-api:latest");
  assert.deepEqual(c["args"], ["--backend", "dapr", "--dapr-topic-prefix", "virtufin."]);
  const env = list(c["env"], "env").map((e) => map(e, "env[]"));
  for (const e of env) {
    str(e["name"], "env name");
    if ("value" in e) str(e["value"], `env ${String(e["name"])} value must be a string`);
  }
  assert.ok(env.some((e) => e["name"] === "HttpPort" && e["value"] === "5002"), "env HttpPort=5002");

  const ports = list(c["ports"], "ports").map((p) => map(p, "ports[]"));
  assert.ok(ports.some((p) => p["name"] === "http" && p["containerPort"] === 5002), "port 5002 named http");
  for (const p of ports) {
    assert.ok(Number.isInteger(p["containerPort"]), "containerPort must be an integer");
    if (p["name"] !== undefined) assert.ok(str(p["name"], "port name").length <= 15, "port names are at most 15 chars");
  }
  const portNames = new Set(ports.map((p) => p["name"]));
  const portNumbers = new Set(ports.map((p) => p["containerPort"]));

  const probePaths: Record<string, string> = { livenessProbe: "/healthz", readinessProbe: "/readyz" };
  for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
    if (!(probe in c)) {
      assert.ok(!(probe in probePaths), `${probe} missing`);
      continue;
    }
    const get = map(map(c[probe], probe)["httpGet"], `${probe}.httpGet`);
    const port = get["port"];
    assert.ok(
      typeof port === "string" ? portNames.has(port) : portNumbers.has(port ?? null),
      `${probe} port ${String(port)} is not a declared container port`,
    );
    const expected = probePaths[probe];
    if (expected !== undefined) assert.equal(get["path"], expected, `${probe} path`);
  }

  const resources = map(c["resources"], "resources");
  for (const kind of ["requests", "limits"]) {
    const r = map(resources[kind], `resources.${kind}`);
    assert.ok(r["cpu"] !== undefined && r["memory"] !== undefined, `resources.${kind} needs cpu and memory`);
    for (const v of Object.values(r)) assert.ok(typeof v === "string" || typeof v === "number", "quantity");
  }

  const sc = map(c["securityContext"], "securityContext");
  assert.equal(sc["runAsNonRoot"], true);
  assert.equal(sc["readOnlyRootFilesystem"], true);
  assert.equal(sc["allowPrivilegeEscalation"], false);

  // Every volumeMount names a volume of the pod.
  const volumes = new Set(list(podSpec["volumes"] ?? [], "volumes").map((v) => map(v, "volumes[]")["name"]));
  for (const m of list(c["volumeMounts"] ?? [], "volumeMounts")) {
    assert.ok(volumes.has(map(m, "volumeMounts[]")["name"] ?? null), "volumeMount without a volume");
  }
});

test("Deployment: termination grace covers preStop + the gateway's 5 s drain", () => {
  const grace = podSpec["terminationGracePeriodSeconds"];
  assert.ok(typeof grace === "number" && Number.isInteger(grace));
  const c = containers[0] as YamlMap;
  const preStop = map(map(c["lifecycle"], "lifecycle")["preStop"], "preStop");
  const sleep = map(preStop["sleep"], "preStop.sleep")["seconds"];
  assert.ok(typeof sleep === "number" && sleep > 0);
  const shutdownGraceS = 5; // --shutdown-grace-ms default
  assert.ok(grace >= sleep + shutdownGraceS + 2, `terminationGracePeriodSeconds ${grace} too short`);
});

test("Deployment: Dapr sidecar annotations are present and string-typed", () => {
  const annotations = map(map(template["metadata"], "template.metadata")["annotations"], "annotations");
  for (const [k, v] of Object.entries(annotations)) assert.equal(typeof v, "string", `annotation ${k} must be a string`);
  assert.equal(annotations["dapr.io/enabled"], "true");
  assert.equal(annotations["dapr.io/app-id"], "virtufin-api");
  assert.ok(["grpc", "http", "h2c", "grpcs", "https"].includes(String(annotations["dapr.io/app-protocol"])));
  assert.ok(!("dapr.io/app-port" in annotations), "Dapr never calls the gateway: no app port");
  const configName = annotations["dapr.io/config"];
  assert.ok(
    ofKind("Configuration").some((d) => map(d.obj["metadata"], "metadata")["name"] === configName),
    `dapr.io/config names a Configuration that is not in deploy/kubernetes: ${String(configName)}`,
  );
  assert.equal(annotations["dapr.io/sidecar-listen-addresses"], "127.0.0.1");
  // daprd must outlive the gateway's drain (it gets SIGTERM at the same time).
  const block = /^(\d+)s$/.exec(String(annotations["dapr.io/block-shutdown-duration"]));
  assert.ok(block?.[1] !== undefined, "dapr.io/block-shutdown-duration like \"10s\"");
  assert.ok(Number(block[1]) >= 3 + 5, "daprd blocks shutdown at least for preStop + drain");
});

test("Service: ClusterIP on 5002, selects the pods, targets a declared port", () => {
  const svc = only("Service");
  const spec = map(svc.obj["spec"], "Service spec");
  assert.equal(spec["type"], "ClusterIP");
  assert.ok(selects(map(spec["selector"], "Service selector"), podLabels), "Service selector must match the pods");
  const ports = list(spec["ports"], "Service ports").map((p) => map(p, "Service port"));
  const http = ports.find((p) => p["port"] === 5002);
  assert.ok(http !== undefined, "Service port 5002");
  const containerPorts = list((containers[0] as YamlMap)["ports"], "ports").map((p) => map(p, "port"));
  const target = http["targetPort"] ?? http["port"];
  assert.ok(
    containerPorts.some((p) => p["name"] === target || p["containerPort"] === target),
    `targetPort ${String(target)} is not a container port`,
  );
  assert.equal(http["appProtocol"], "kubernetes.io/h2c");
});

test("PodDisruptionBudget: selects the Deployment's pods and allows one disruption", () => {
  const pdb = only("PodDisruptionBudget");
  const spec = map(pdb.obj["spec"], "PDB spec");
  const matchLabels = map(map(spec["selector"], "PDB selector")["matchLabels"], "PDB matchLabels");
  assert.ok(selects(matchLabels, podLabels), "PDB selector must match the Deployment's pod labels");
  assert.ok(("minAvailable" in spec) !== ("maxUnavailable" in spec), "exactly one of minAvailable / maxUnavailable");
  if ("maxUnavailable" in spec) assert.equal(spec["maxUnavailable"], 1);
  else assert.equal(spec["minAvailable"], 2);
});

test("Dapr Components: names, types, metadata items, per-pod Redis consumer", () => {
  const components = ofKind("Component");
  const types = new Map<string, string>();
  for (const { file, obj } of components) {
    const name = str(map(obj["metadata"], `${file}: metadata`)["name"], `${file}: metadata.name`);
    const spec = map(obj["spec"], `${file}: spec`);
    const type = str(spec["type"], `${file}: spec.type`);
    assert.ok(["state.redis", "pubsub.redis", "pubsub.jetstream"].includes(type), `${file}: unexpected type ${type}`);
    assert.equal(spec["version"], "v1", `${file}: spec.version`);
    const items = list(spec["metadata"], `${file}: spec.metadata`).map((m) => map(m, `${file}: metadata item`));
    const meta: Record<string, string> = {};
    for (const m of items) {
      const key = str(m["name"], `${file}: metadata item name`);
      if ("secretKeyRef" in m) {
        const ref = map(m["secretKeyRef"], `${file}: ${key}.secretKeyRef`);
        str(ref["name"], `${file}: ${key}.secretKeyRef.name`);
        str(ref["key"], `${file}: ${key}.secretKeyRef.key`);
      } else {
        meta[key] = str(m["value"], `${file}: metadata ${key} value must be a string`);
      }
    }
    if (type === "pubsub.redis") {
      assert.match(meta["consumerID"] ?? "", /\{podName\}|\{uuid\}/, `${file}: consumerID must be per pod`);
    }
    if (type.endsWith(".redis")) assert.equal(meta["redisHost"], "redis-master:6379", `${file}: redisHost`);
    if (type === "state.redis") assert.equal(meta["keyPrefix"], "none", `${file}: keyPrefix`);
    if (type === "pubsub.jetstream") {
      assert.equal(meta["natsURL"], "nats://nats:4222", `${file}: natsURL`);
      assert.equal(meta["deliverPolicy"], "new");
      assert.ok(!("queueGroupName" in meta) && !("durableName" in meta), `${file}: replicas must not compete`);
    }
    const scopes = obj["scopes"];
    if (scopes !== undefined) assert.ok(list(scopes, "scopes").includes("virtufin-api"), `${file}: scopes`);
    types.set(name, type);
  }
  assert.deepEqual(
    Object.fromEntries([...types].sort()),
    { pubsub: "pubsub.redis", "pubsub-jetstream": "pubsub.jetstream", statestore: "state.redis" },
  );
});
