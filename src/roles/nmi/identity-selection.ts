// Which of a pod's AzureAssignedIdentity records answers a token request (standard mode, §5.7), as a
// pure function re-evaluated whenever the records change, so waiting is driven by events.
//
// Differences from the original, on purpose:
// - client_id and msi_res_id match case-insensitively everywhere (the original's final pick was
//   case-sensitive, turning an upper-case client_id into a 404 after a full wait).
// - The namespaced filter applies before deciding, so an identity the pod may not use never satisfies
//   the wait, and "all excluded" is an immediate not-found rather than an index panic (500).
// - With no identity requested the choice is deterministic (the original took the informer's first):
//   records with the legacy empty status first (as the original), then identities in the pod's own
//   namespace, then by identity namespace, identity name, and lower-cased client id.
// - An identity without a client ID is never chosen: asking IMDS without client_id would hand the pod the
//   node's own default identity. Such a record is refused at once (the original's ADAL refused it too).
// - An Unassigned record (MIC's grace period before it deletes a record the pod no longer needs) grants
//   nothing and is not waited on: when it is all that matches, the answer is immediate.
import {
  AssignedState,
  type AzureAssignedIdentity,
  type AzureIdentity,
  isNamespacedIdentity,
} from "../../kube/crds.ts";

export interface IdentityRequest {
  /** `client_id` query parameter, "" when absent. */
  clientId: string;
  /** `msi_res_id` (or `mi_res_id`) query parameter, "" when absent. */
  resourceId: string;
}

export interface SelectionContext {
  podNamespace: string;
  /** --forceNamespaced or FORCENAMESPACED=true. */
  forceNamespaced: boolean;
}

export type Selection =
  | { kind: "found"; identity: AzureIdentity; record: AzureAssignedIdentity }
  /** A matching record exists but is still Created: wait for Assigned. */
  | { kind: "wait-assigned" }
  /** No matching record exists yet: wait for MIC to create one. */
  | { kind: "wait-created" }
  /** Matching records exist but namespaced rules forbid them all: waiting cannot help. */
  | { kind: "not-found"; reason: "namespace" }
  /** Matching records exist but their identities have no client ID (they would mean the node's default). */
  | { kind: "not-found"; reason: "no-client-id"; identities: string[] }
  /**
   * Only Unassigned records match: the pod no longer holds the identity and waiting cannot bring it back.
   * `otherCreated`: another record of the pod is still being assigned (worth a Retry-After).
   */
  | { kind: "unassigned"; identities: string[]; otherCreated: boolean };

export function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export function matchesRequest(identity: AzureIdentity, request: IdentityRequest): boolean {
  if (request.clientId === "" && request.resourceId === "") return true;
  if (request.clientId !== "" && sameId(identity.spec.clientID, request.clientId)) return true;
  return request.resourceId !== "" && sameId(identity.spec.resourceID, request.resourceId);
}

function identityNamespace(identity: AzureIdentity): string {
  return identity.metadata.namespace ?? "";
}

export function allowedForPod(identity: AzureIdentity, context: SelectionContext): boolean {
  if (!context.forceNamespaced && !isNamespacedIdentity(identity)) return true;
  return identityNamespace(identity) === context.podNamespace;
}

function preference(record: AzureAssignedIdentity, identity: AzureIdentity, podNamespace: string): string[] {
  return [
    record.status.status === AssignedState.Legacy ? "0" : "1",
    identityNamespace(identity) === podNamespace ? "0" : "1",
    identityNamespace(identity),
    identity.metadata.name,
    identity.spec.clientID.toLowerCase(),
    record.metadata.name,
  ];
}

function compareKeys(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? "";
    const y = b[i] ?? "";
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export function selectIdentity(
  records: readonly AzureAssignedIdentity[],
  request: IdentityRequest,
  context: SelectionContext,
): Selection {
  // Runs on every token request: the best usable record is kept as it is found (no list of them), and the
  // sets for the rare refusals are made only when needed.
  let bestRecord: AzureAssignedIdentity | undefined;
  let bestIdentity: AzureIdentity | undefined;
  let excluded = 0;
  let withoutClientId: Set<string> | undefined;
  let unassigned: Set<string> | undefined;
  let waitingForAssignment = false;
  let otherCreated = false;
  for (const record of records) {
    const state = record.status.status;
    const identity = record.spec.azureIdentityRef;
    if (!identity || !matchesRequest(identity, request)) {
      if (state === AssignedState.Created) otherCreated = true;
      continue;
    }
    if (state === AssignedState.Unassigned) {
      unassigned = addTo(unassigned, identityName(identity));
      continue;
    }
    if (!allowedForPod(identity, context)) {
      excluded++;
      continue;
    }
    if (identity.spec.clientID.trim() === "") withoutClientId = addTo(withoutClientId, identityName(identity));
    else if (state === AssignedState.Created) waitingForAssignment = true;
    else if (
      !bestRecord ||
      !bestIdentity ||
      compareKeys(
        preference(record, identity, context.podNamespace),
        preference(bestRecord, bestIdentity, context.podNamespace),
      ) < 0
    ) {
      bestRecord = record;
      bestIdentity = identity;
    }
  }
  if (bestRecord && bestIdentity) return { kind: "found", identity: bestIdentity, record: bestRecord };
  if (waitingForAssignment) return { kind: "wait-assigned" };
  if (withoutClientId) return { kind: "not-found", reason: "no-client-id", identities: [...withoutClientId].sort() };
  if (excluded > 0) return { kind: "not-found", reason: "namespace" };
  if (unassigned) return { kind: "unassigned", identities: [...unassigned].sort(), otherCreated };
  return { kind: "wait-created" };
}

/** `set` with `value` added, made on first use. */
function addTo(set: Set<string> | undefined, value: string): Set<string> {
  const target = set ?? new Set<string>();
  target.add(value);
  return target;
}

function identityName(identity: AzureIdentity): string {
  return `${identityNamespace(identity)}/${identity.metadata.name}`;
}
