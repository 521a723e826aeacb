// Renders the project's chart with the real helm binary and parses the manifests, for the helm-* tests;
// checks rendered built-in objects against Kubernetes' own OpenAPI schemas (kubernetes-models).
import { resolve } from "node:path";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { Secret } from "kubernetes-models/v1/Secret";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { helmPath } from "./tools.ts";

export const chartDir = resolve(import.meta.dir, "../../helm/pod-identity");
export const fixturesDir = resolve(import.meta.dir, "../fixtures/aad-pod-identity");
export const RELEASE = "pid";
export const NAMESPACE = "identity-system";

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
  };
}
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: Record<string, unknown> & {
    runAsUser?: number;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  livenessProbe?: { httpGet?: { path: string; port: number | string } };
  readinessProbe?: { httpGet?: { path: string; port: number | string } };
  startupProbe?: { httpGet?: { path: string; port: number | string } };
  lifecycle?: Record<string, unknown>;
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  hostNetwork?: boolean;
  dnsPolicy?: string;
  serviceAccountName?: string;
  priorityClassName?: string;
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean };
  tolerations?: Record<string, unknown>[];
  volumes?: { name: string; hostPath?: { path: string; type?: string } }[];
  affinity?: Record<string, unknown>;
  imagePullSecrets?: { name: string }[];
}
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown> & {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
  };
  data?: Record<string, string>;
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

export interface Rendered {
  objects: K8sObject[];
  find(kind: string, name?: string): K8sObject | undefined;
  all(kind: string): K8sObject[];
}

/** `helm template` with the given value files and --set pairs; throws with helm's stderr on failure. */
export function renderChart(options: { values?: string[]; set?: string[]; includeCrds?: boolean } = {}): Rendered {
  const args = [helmPath(), "template", RELEASE, chartDir, "--namespace", NAMESPACE];
  for (const file of options.values ?? []) args.push("--values", file);
  for (const pair of options.set ?? []) args.push("--set", pair);
  if (options.includeCrds) args.push("--include-crds");
  const result = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`helm template failed: ${result.stderr.toString()}`);
  const objects = parseManifests(result.stdout.toString());
  return {
    objects,
    find: (kind, name) => objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name)),
    all: (kind) => objects.filter((o) => o.kind === kind),
  };
}

/** Multi-document YAML -> objects (empty documents dropped). */
export function parseManifests(text: string): K8sObject[] {
  const parsed: unknown = Bun.YAML.parse(text);
  const documents = Array.isArray(parsed) ? parsed : [parsed];
  return documents.filter((doc): doc is K8sObject => typeof doc === "object" && doc !== null);
}

export function runHelm(args: string[]): { exitCode: number; output: string } {
  const result = Bun.spawnSync([helmPath(), ...args], { stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode ?? 1, output: result.stdout.toString() + result.stderr.toString() };
}

/** `helm install --dry-run=client` (no cluster needed): the NOTES.txt text a user sees after install. */
export function renderNotes(options: { set?: string[] } = {}): string {
  const args = ["install", RELEASE, chartDir, "--namespace", NAMESPACE, "--dry-run=client"];
  for (const pair of options.set ?? []) args.push("--set", pair);
  const result = Bun.spawnSync([helmPath(), ...args], {
    stdout: "pipe",
    stderr: "pipe",
    // No kubeconfig is read: a client-side dry run never talks to a cluster.
    env: { ...process.env, KUBECONFIG: "/nonexistent" },
  });
  if (result.exitCode !== 0) throw new Error(`helm install --dry-run failed: ${result.stderr.toString()}`);
  const output = result.stdout.toString();
  const start = output.indexOf("\nNOTES:\n");
  if (start < 0) throw new Error("helm printed no NOTES");
  return output.slice(start + "\nNOTES:\n".length);
}

interface Validatable {
  validate(): void;
}

// Every built-in kind the chart renders, by apiVersion/kind, with the upstream schema's validator.
const BUILTIN_MODELS: Record<string, (data: unknown) => Validatable> = {
  "apps/v1/DaemonSet": (data) => new DaemonSet(data as never),
  "apps/v1/Deployment": (data) => new Deployment(data as never),
  "apiextensions.k8s.io/v1/CustomResourceDefinition": (data) => new CustomResourceDefinition(data as never),
  "policy/v1/PodDisruptionBudget": (data) => new PodDisruptionBudget(data as never),
  "rbac.authorization.k8s.io/v1/ClusterRole": (data) => new ClusterRole(data as never),
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": (data) => new ClusterRoleBinding(data as never),
  "rbac.authorization.k8s.io/v1/Role": (data) => new Role(data as never),
  "rbac.authorization.k8s.io/v1/RoleBinding": (data) => new RoleBinding(data as never),
  "v1/Secret": (data) => new Secret(data as never),
  "v1/ServiceAccount": (data) => new ServiceAccount(data as never),
};

/**
 * Why a rendered built-in object is not valid for its kind under Kubernetes' OpenAPI schema (types,
 * required fields, formats); undefined when the kind is not a built-in one this checker knows.
 */
export function builtinSchemaProblems(object: K8sObject): string[] | undefined {
  const model = BUILTIN_MODELS[`${object.apiVersion}/${object.kind}`];
  if (!model) return undefined;
  try {
    model(object).validate();
    return [];
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
}
