// Managed mode (§5.8): the identity is worked out at request time from the pod's own namespace — the
// bindings there whose selector equals the pod's aadpodidbinding label, and the identities there they
// name. No AzureAssignedIdentity, no waiting: the identity is expected to be on the scale set already
// (assigned by the cluster's operator), and IMDS says when it is not.
import type { AzureIdentity, AzureIdentityBinding } from "../../kube/crds.ts";
import type { IdentityResolver } from "../nmi/identity-resolver.ts";
import type { IdentityRequest } from "../nmi/identity-selection.ts";
import type { PodInfo } from "../nmi/ports.ts";

export const BINDING_LABEL = "aadpodidbinding";

export interface NamespacedObjects {
  /** Bindings in `namespace` whose selector is exactly `selector`. */
  bindings(namespace: string, selector: string): AzureIdentityBinding[];
  identity(namespace: string, name: string): AzureIdentity | undefined;
}

/** Pure: the original's choice — exact client ID, else exact resource ID, else (nothing asked) the first. */
export function selectManagedIdentity(
  pod: Pick<PodInfo, "namespace" | "labels">,
  request: IdentityRequest,
  objects: NamespacedObjects,
): AzureIdentity | undefined {
  const selector = pod.labels[BINDING_LABEL];
  if (!selector) return undefined;
  const names = new Set(objects.bindings(pod.namespace, selector).map((binding) => binding.spec.azureIdentity));
  const identities = [...names]
    .sort()
    .map((name) => objects.identity(pod.namespace, name))
    .filter((identity): identity is AzureIdentity => identity !== undefined);
  if (request.clientId !== "") return identities.find((identity) => identity.spec.clientID === request.clientId);
  if (request.resourceId !== "") return identities.find((identity) => identity.spec.resourceID === request.resourceId);
  return identities[0];
}

export function managedIdentityResolver(objects: NamespacedObjects): IdentityResolver {
  return async (pod, request) => {
    const identity = selectManagedIdentity(pod, request, objects);
    if (identity) return { kind: "found", identity, waitedMs: 0 };
    const selector = pod.labels[BINDING_LABEL];
    const message = selector
      ? `no AzureIdentity in namespace ${pod.namespace} is bound to pod ${pod.namespace}/${pod.name} (${BINDING_LABEL}=${selector})${request.clientId || request.resourceId ? " with the requested identity" : ""}`
      : `pod ${pod.namespace}/${pod.name} has no ${BINDING_LABEL} label`;
    // "not-ready": 404, or 503 + Retry-After with --set-retry-after-header, as the original answered.
    return { kind: "not-ready", message, waitedMs: 0 };
  };
}
