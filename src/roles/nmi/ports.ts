// What NMI's core needs from the outside world, as interfaces: the Kubernetes informers (pods,
// assignments, exceptions), the token sources (node IMDS, AAD) and the IMDS proxy. The composition root
// adapts src/kube and src/cloud to these; tests use in-memory fakes.
import type { AzureAssignedIdentity, AzureIdentity, AzurePodIdentityException } from "../../kube/crds.ts";

export interface PodInfo {
  name: string;
  namespace: string;
  uid: string;
  /** status.podIP */
  ip: string;
  /** status.phase */
  phase: string;
  labels: Readonly<Record<string, string>>;
  ownerReferences: readonly { kind: string; name: string }[];
  /** metadata.deletionTimestamp is set: the pod is shutting down and its IP may soon be reused. */
  terminating?: boolean;
}

export type PodLookupResult =
  | { kind: "found"; pod: PodInfo }
  | { kind: "ambiguous"; pods: PodInfo[] }
  | { kind: "none" };

/** Changes are announced through `subscribe`; the listener runs after the store has changed. */
export interface ChangeFeed {
  subscribe(listener: () => void): () => void;
}

/** The node-local pod informer (field selector spec.nodeName=<node>). */
export interface PodLookup extends ChangeFeed {
  /** Pods on this node whose status.podIP is `ip` and whose phase is Pending or Running. */
  byIp(ip: string): PodLookupResult;
  byName(namespace: string, name: string): PodInfo | undefined;
}

/** The node's AzureAssignedIdentity records (informer with label selector nodename=<node>). */
export interface AssignedIdentitySource extends ChangeFeed {
  forPod(podNamespace: string, podName: string): readonly AzureAssignedIdentity[];
}

/** AzurePodIdentityException objects (informer, all namespaces). */
export interface ExceptionSource {
  inNamespace(namespace: string): readonly AzurePodIdentityException[];
}

/** A token as NMI hands it out (IMDS's JSON is built from this at answer time). */
export interface Token {
  accessToken: string;
  /** Epoch milliseconds. */
  expiresOnMs: number;
  notBeforeMs: number;
  resource: string;
  tokenType: string;
  /** The identity's client id (IMDS includes it; the original NMI did not). */
  clientId: string;
  refreshToken?: string;
}

/** Why an upstream token call failed; `status` is null for transport failures. */
export class UpstreamTokenError extends Error {
  readonly code = "UPSTREAM_TOKEN_ERROR";
  constructor(
    readonly status: number | null,
    readonly description: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(status === null ? `upstream unreachable: ${description}` : `upstream ${status}: ${description}`);
  }

  /** IMDS's answer while an assignment is still propagating. */
  get identityNotFound(): boolean {
    return this.status === 400 && /identity not found/i.test(this.description);
  }
}

/** A node IMDS token request: a user-assigned identity by client id or by resource id, or the system one. */
export interface ImdsIdentityRequest {
  clientId: string;
  resource: string;
  /** msi_res_id, used only when clientId is "" (excepted pods asking by resource id). */
  msiResourceId?: string;
}

export interface TokenUpstream {
  /** Node IMDS managed-identity token; clientId and msiResourceId both "" ask for the system-assigned identity. */
  imds(request: ImdsIdentityRequest, signal?: AbortSignal): Promise<Token>;
  /** AAD client-credentials tokens for a type 1/2 identity: the primary tenant first, then each auxiliary one. */
  aad(identity: AzureIdentity, resource: string, signal?: AbortSignal): Promise<Token[]>;
}

/**
 * Forwards a request unchanged to the node IMDS and returns its answer (status, headers, body).
 * `callerKey` (the calling pod's IP) queues the call apart in the node-wide budget, for fairness.
 */
export interface ImdsProxy {
  forward(request: Request, callerKey?: string): Promise<Response>;
}
