// Desired state (pure): which AzureAssignedIdentity records the cluster's pods need, as
// aad-pod-identity's createDesiredAssignedIdentityList (§4.2 step 3) with its bugs fixed:
// - the result depends only on the inputs as sets, never on their order;
// - completed pods (Succeeded, Failed) hold no identity;
// - names stay unique and within 253 characters (see assigned-identity-name.ts);
// - an unusable AzureIdentity becomes a problem (a Warning event), never an exception.
// Bindings are indexed by selector, so the cost is O(pods + bindings), not O(pods × bindings).
import {
  type AzureIdentity,
  type AzureIdentityBinding,
  BINDING_LABEL,
  IdentityType,
  identityProblems,
  isNamespacedIdentity,
  parseCrd,
} from "../../kube/crds.ts";
import { nameAssignments } from "./assigned-identity-name.ts";

/** The parts of a pod MIC looks at; the kube layer maps V1Pod onto this. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid?: string | undefined;
  nodeName?: string | undefined;
  phase?: string | undefined;
  labels?: Readonly<Record<string, string>> | null | undefined;
  creationTimestamp?: string | undefined;
}

export interface DesiredAssignment {
  /** `<namespace>/<name>` of the record. */
  key: string;
  name: string;
  /** The identity's namespace when namespaced, else "default" (aad-pod-identity's choice). */
  namespace: string;
  podName: string;
  podNamespace: string;
  nodeName: string;
  identity: AzureIdentity;
  binding: AzureIdentityBinding;
  identityType: IdentityType;
  clientId: string;
  /** ARM ID of the user-assigned identity; "" for service principals. */
  resourceId: string;
}

export interface DesiredProblem {
  kind: "AzureIdentity" | "AzureIdentityBinding";
  namespace: string;
  name: string;
  /** Event reason; problems with `warn: false` are logged only. */
  reason: string;
  message: string;
  warn: boolean;
}

export interface DesiredStateInput {
  pods: readonly PodInfo[];
  /** Raw or parsed AzureIdentityBinding objects; they are parsed here. */
  bindings: readonly unknown[];
  /** Raw or parsed AzureIdentity objects; they are parsed and validated here. */
  identities: readonly unknown[];
  forceNamespaced: boolean;
}

export interface DesiredState {
  /** Sorted by record key. */
  assignments: DesiredAssignment[];
  problems: DesiredProblem[];
}

export const INVALID_IDENTITY_REASON = "invalid identity";
export const INVALID_BINDING_REASON = "invalid binding";
export const MISSING_IDENTITY_REASON = "identity not found";

const COMPLETED_PHASES = new Set(["Succeeded", "Failed"]);

interface ResolvedBinding {
  binding: AzureIdentityBinding;
  identity: AzureIdentity;
  namespaced: boolean;
}

export interface BindingIndex {
  bySelector: Map<string, ResolvedBinding[]>;
  problems: DesiredProblem[];
}

function objectKey(meta: { namespace?: string | undefined; name: string }): string {
  return `${meta.namespace ?? ""}/${meta.name}`;
}

function byKey<T extends { metadata: { namespace?: string | undefined; name: string } }>(a: T, b: T): number {
  const ka = objectKey(a.metadata);
  const kb = objectKey(b.metadata);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function metaOf(raw: unknown): { namespace: string; name: string } {
  const meta = (raw as { metadata?: { namespace?: unknown; name?: unknown } } | null)?.metadata;
  return {
    namespace: typeof meta?.namespace === "string" ? meta.namespace : "",
    name: typeof meta?.name === "string" ? meta.name : "",
  };
}

/** Parses and validates identities and bindings, and indexes the usable bindings by selector. */
export function indexBindings(
  rawBindings: readonly unknown[],
  rawIdentities: readonly unknown[],
  forceNamespaced: boolean,
): BindingIndex {
  const problems: DesiredProblem[] = [];
  const identities = new Map<string, AzureIdentity>();
  for (const raw of rawIdentities) {
    const parsed = parseCrd("AzureIdentity", raw);
    const found = parsed.ok ? identityProblems(parsed.value) : parsed.problems;
    if (!parsed.ok || found.length > 0) {
      problems.push({
        kind: "AzureIdentity",
        ...metaOf(raw),
        reason: INVALID_IDENTITY_REASON,
        message: `AzureIdentity is skipped: ${found.join("; ")}`,
        warn: true,
      });
      continue;
    }
    // Informers never hold two objects with one key; if a caller does, the choice must not depend on order.
    const key = objectKey(parsed.value.metadata);
    const other = identities.get(key);
    if (!other || JSON.stringify(parsed.value) > JSON.stringify(other)) identities.set(key, parsed.value);
  }

  const bindings: AzureIdentityBinding[] = [];
  for (const raw of rawBindings) {
    const parsed = parseCrd("AzureIdentityBinding", raw);
    if (parsed.ok) bindings.push(parsed.value);
    else
      problems.push({
        kind: "AzureIdentityBinding",
        ...metaOf(raw),
        reason: INVALID_BINDING_REASON,
        message: `AzureIdentityBinding is skipped: ${parsed.problems.join("; ")}`,
        warn: true,
      });
  }
  // Sorted by (namespace, name) as aad-pod-identity does, so ties resolve the same way every time.
  bindings.sort(byKey);

  const bySelector = new Map<string, ResolvedBinding[]>();
  for (const binding of bindings) {
    const { selector, azureIdentity } = binding.spec;
    if (!selector) continue;
    // The identity must live in the binding's namespace.
    const identity = identities.get(`${binding.metadata.namespace}/${azureIdentity}`);
    if (!identity) {
      problems.push({
        kind: "AzureIdentityBinding",
        namespace: binding.metadata.namespace,
        name: binding.metadata.name,
        reason: MISSING_IDENTITY_REASON,
        message: `AzureIdentity ${binding.metadata.namespace}/${azureIdentity} not found or not usable`,
        warn: false,
      });
      continue;
    }
    const resolved = { binding, identity, namespaced: forceNamespaced || isNamespacedIdentity(identity) };
    const list = bySelector.get(selector);
    if (list) list.push(resolved);
    else bySelector.set(selector, [resolved]);
  }
  problems.sort((a, b) => {
    const ka = `${a.kind}/${a.namespace}/${a.name}/${a.reason}`;
    const kb = `${b.kind}/${b.namespace}/${b.name}/${b.reason}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  return { bySelector, problems };
}

/** True when a pod can hold identities at all: scheduled, labelled, not completed. */
export function podWantsIdentities(pod: PodInfo): boolean {
  return Boolean(pod.nodeName) && Boolean(pod.labels?.[BINDING_LABEL]) && !COMPLETED_PHASES.has(pod.phase ?? "");
}

interface UnnamedAssignment {
  recordNamespace: string;
  podNamespace: string;
  podName: string;
  identityNamespace: string;
  identityName: string;
  nodeName: string;
  resolved: ResolvedBinding;
}

/** The (pod, identity) pairs of one pod; one per identity even when several bindings select it. */
function pairsForPod(pod: PodInfo, index: BindingIndex): UnnamedAssignment[] {
  if (!podWantsIdentities(pod)) return [];
  const matches = index.bySelector.get(pod.labels?.[BINDING_LABEL] ?? "") ?? [];
  const seen = new Set<string>();
  const pairs: UnnamedAssignment[] = [];
  for (const resolved of matches) {
    const identityMeta = resolved.identity.metadata;
    // Namespaced: identity, binding and pod must share a namespace (identity ns == binding ns already).
    if (resolved.namespaced && resolved.binding.metadata.namespace !== pod.namespace) continue;
    const identityKey = objectKey(identityMeta);
    if (seen.has(identityKey)) continue;
    seen.add(identityKey);
    pairs.push({
      recordNamespace: resolved.namespaced ? identityMeta.namespace : "default",
      podNamespace: pod.namespace,
      podName: pod.name,
      identityNamespace: identityMeta.namespace,
      identityName: identityMeta.name,
      nodeName: pod.nodeName ?? "",
      resolved,
    });
  }
  return pairs;
}

/** Desired records for the given pods against an index built by indexBindings. */
export function desiredFromIndex(pods: readonly PodInfo[], index: BindingIndex): DesiredAssignment[] {
  // Duplicate pod entries (same namespace/name) keep one, chosen independently of input order.
  const unique = new Map<string, PodInfo>();
  for (const pod of pods) {
    const key = `${pod.namespace}/${pod.name}`;
    const seen = unique.get(key);
    if (!seen || JSON.stringify(pod) > JSON.stringify(seen)) unique.set(key, pod);
  }
  const pairs: UnnamedAssignment[] = [];
  for (const pod of unique.values()) pairs.push(...pairsForPod(pod, index));
  const names = nameAssignments(pairs);
  const assignments = pairs.map((pair): DesiredAssignment => {
    const name = names.get(pair) ?? "";
    const { identity, binding } = pair.resolved;
    const type = identity.spec.type as IdentityType;
    return {
      key: `${pair.recordNamespace}/${name}`,
      name,
      namespace: pair.recordNamespace,
      podName: pair.podName,
      podNamespace: pair.podNamespace,
      nodeName: pair.nodeName,
      identity,
      binding,
      identityType: type,
      clientId: identity.spec.clientID,
      resourceId: type === IdentityType.UserAssignedMSI ? identity.spec.resourceID : "",
    };
  });
  assignments.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return assignments;
}

export function computeDesiredState(input: DesiredStateInput): DesiredState {
  const index = indexBindings(input.bindings, input.identities, input.forceNamespaced);
  return { assignments: desiredFromIndex(input.pods, index), problems: index.problems };
}
