// Managed mode (§5.8): the identity is worked out at request time from the pod's own namespace — the
// bindings there whose selector equals the pod's aadpodidbinding label, and the identities there they
// name. No AzureAssignedIdentity, no waiting: the identity is expected to be on the scale set already
// (assigned by the cluster's operator), and IMDS says when it is not.
//
// Differences from the original, on purpose:
// - client_id and msi_res_id match case-insensitively (the original compared them exactly).
// - With no identity requested the choice is deterministic: the identity with the smallest name (the
//   original took whichever its informer listed first).
// - An identity without a client ID is never chosen: a type 0 request to IMDS without client_id would
//   hand the pod the node's own default identity (the original's ADAL refused an empty ID instead).
import { type AzureIdentity, type AzureIdentityBinding, BINDING_LABEL } from "../../kube/crds.ts";
import type { IdentityResolver } from "../nmi/identity-resolver.ts";
import { type IdentityRequest, matchesRequest } from "../nmi/identity-selection.ts";
import { noIdentityForClientId, redactClientId } from "../nmi/imds-errors.ts";
import type { PodInfo } from "../nmi/ports.ts";

export interface NamespacedObjects {
  /** Bindings in `namespace` whose selector is exactly `selector`. */
  bindings(namespace: string, selector: string): readonly AzureIdentityBinding[];
  identity(namespace: string, name: string): AzureIdentity | undefined;
}

export type ManagedSelection =
  /** `bindings`: the names of the bindings (in the pod's namespace) that name the chosen identity. */
  | { kind: "found"; identity: AzureIdentity; bindings: string[] }
  /** The pod carries no aadpodidbinding label (or an empty one). */
  | { kind: "no-label" }
  /** No binding in the pod's namespace has the pod's selector. */
  | { kind: "no-binding"; selector: string }
  /** Bindings match, but none names an existing, usable identity in the pod's namespace. */
  | { kind: "no-identity"; selector: string; missing: string[]; unusable: string[] }
  /** Identities are bound, but none is the one the request asked for. */
  | { kind: "no-match"; selector: string; bound: string[] };

/** Pure: which of the identities bound to the pod in its own namespace answers the request. */
export function selectManagedIdentity(
  pod: Pick<PodInfo, "namespace" | "labels">,
  request: IdentityRequest,
  objects: NamespacedObjects,
): ManagedSelection {
  const selector = pod.labels[BINDING_LABEL] ?? "";
  if (selector === "") return { kind: "no-label" };
  const matching = objects
    .bindings(pod.namespace, selector)
    // The lookup is trusted to filter, but a binding from elsewhere must never widen what a pod gets.
    .filter((binding) => (binding.metadata.namespace ?? "") === pod.namespace && binding.spec.selector === selector)
    .filter((binding) => binding.spec.azureIdentity !== "");
  const names = new Set(matching.map((binding) => binding.spec.azureIdentity));
  if (names.size === 0) return { kind: "no-binding", selector };
  const missing: string[] = [];
  const unusable: string[] = [];
  const bound: AzureIdentity[] = [];
  for (const name of [...names].sort()) {
    const identity = objects.identity(pod.namespace, name);
    if (!identity || (identity.metadata.namespace ?? "") !== pod.namespace) missing.push(name);
    else if (identity.spec.clientID.trim() === "") unusable.push(name);
    else bound.push(identity);
  }
  if (bound.length === 0) return { kind: "no-identity", selector, missing, unusable };
  const chosen = bound.find((identity) => matchesRequest(identity, request));
  if (chosen) {
    const bindings = matching
      .filter((binding) => binding.spec.azureIdentity === chosen.metadata.name)
      .map((binding) => binding.metadata.name);
    return { kind: "found", identity: chosen, bindings };
  }
  return { kind: "no-match", selector, bound: bound.map((identity) => identity.metadata.name) };
}

function requested(request: IdentityRequest): string {
  if (request.clientId !== "") return `client_id ${redactClientId(request.clientId)}`;
  return `msi_res_id ${request.resourceId}`;
}

/** Pure: the 404 (or 503 + Retry-After) description, led by the original's own text. */
export function managedFailureMessage(
  pod: Pick<PodInfo, "namespace" | "name">,
  request: IdentityRequest,
  selection: Exclude<ManagedSelection, { kind: "found" }>,
): string {
  // The original's text, with the client ID redacted as it did (nothing when none was asked for).
  const lead = noIdentityForClientId(request.clientId === "" ? "" : redactClientId(request.clientId)).trimEnd();
  const who = `pod ${pod.namespace}/${pod.name}`;
  switch (selection.kind) {
    case "no-label":
      return `${lead}: ${who} has no ${BINDING_LABEL} label`;
    case "no-binding":
      return `${lead}: no AzureIdentityBinding in namespace ${pod.namespace} has selector ${selection.selector} (${who}); managed mode only uses bindings and identities in the pod's own namespace`;
    case "no-identity": {
      const parts = [
        ...(selection.missing.length > 0
          ? [`not found in namespace ${pod.namespace}: ${selection.missing.join(", ")}`]
          : []),
        ...(selection.unusable.length > 0 ? [`without spec.clientID: ${selection.unusable.join(", ")}`] : []),
      ];
      return `${lead}: the AzureIdentities bound to ${who} (${BINDING_LABEL}=${selection.selector}) are unusable (${parts.join("; ")})`;
    }
    case "no-match":
      return `${lead}: none of the AzureIdentities bound to ${who} (${selection.bound.join(", ")}) has the requested ${requested(request)}`;
  }
}

export function managedIdentityResolver(objects: NamespacedObjects): IdentityResolver {
  // Never waits: managed mode has no assignment to wait for.
  return (pod, request) => {
    const selection = selectManagedIdentity(pod, request, objects);
    if (selection.kind === "found") {
      const bindings = selection.bindings.map((name) => ({ namespace: pod.namespace, name }));
      return { kind: "found", identity: selection.identity, bindings, waitedMs: 0 };
    }
    // "not-ready": 404, or 503 + Retry-After with --set-retry-after-header, as the original answered.
    return { kind: "not-ready", message: managedFailureMessage(pod, request, selection), waitedMs: 0 };
  };
}
