// Reads and changes the user-assigned identities of one VM or VMSS through @azure/arm-compute.
// GET (or take the caller's fresh read), plan the delta PATCHes (identity-patch.ts), send them one
// after another, each waiting for its long-running operation. SDK retries are off by default: the
// caller owns retry policy (MIC honours Retry-After per scale set). Every failure surfaces as a typed
// ArmError (arm-errors.ts).
//
// http endpoints (emulators) work: the client then allows insecure connections and replaces the SDK's
// bearer policy, which refuses to send tokens over http, with one that sets the header itself.
import { ComputeManagementClient } from "@azure/arm-compute";
import type { TokenCredential } from "@azure/identity";
import { coreHttpClient, fetchTrustingCa } from "./aad-transport.ts";
import { ArmResourceDeletingError, classifyArmFailure, type RawArmFailure } from "./arm-errors.ts";
import {
  type IdentityChange,
  type IdentityPatch,
  MAX_IDENTITIES_PER_REQUEST,
  planIdentityPatches,
} from "./identity-patch.ts";

export interface ArmTarget {
  kind: "vm" | "vmss";
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

export interface UserAssignedIdentityInfo {
  principalId?: string;
  clientId?: string;
}

export interface ArmIdentityState {
  /** identity.type as ARM reports it; "None" when the resource has no identity block. */
  type: string;
  /** The system-assigned identity's principal, when there is one. */
  principalId?: string;
  /** Keyed by identity resource ID, as ARM spells it. */
  userAssignedIdentities: Record<string, UserAssignedIdentityInfo>;
  provisioningState?: string;
}

export interface UpdateIdentitiesResult {
  /** PATCH requests sent (0 when nothing had to change). */
  patches: number;
  /** The identity after the last PATCH, or as read when nothing changed; absent when nothing was asked. */
  identity?: ArmIdentityState;
}

export interface ArmCallOptions {
  signal?: AbortSignal;
}

export interface UpdateIdentitiesOptions extends ArmCallOptions {
  /**
   * The target's identity as the caller last read it (or as the previous update left it): the PATCHes
   * are built from it and no GET is sent. Without it the target is read first.
   */
  current?: ArmIdentityState;
}

export interface ArmIdentityClient {
  getIdentity(target: ArmTarget, options?: ArmCallOptions): Promise<ArmIdentityState>;
  /**
   * Applies add/remove to the target's user-assigned identities: a GET (unless `current` is given),
   * then the PATCHes. Neither GET nor PATCH when both lists are empty. Throws ArmResourceDeletingError
   * for a resource being deleted, and the typed ArmError of the first failing call otherwise (earlier
   * chunks stay applied; GET again to see what landed).
   */
  updateIdentities(
    target: ArmTarget,
    change: IdentityChange,
    options?: UpdateIdentitiesOptions,
  ): Promise<UpdateIdentitiesResult>;
}

export interface ArmIdentityClientOptions {
  credential: TokenCredential;
  /** ARM base URL. Default https://management.azure.com/ */
  endpoint?: string;
  /** Token audience; the scope asked for is `<audience>/.default`. Default https://management.azure.com/ */
  audience?: string;
  /** SDK-level retries (5xx/408 and friends). Default 0: the caller decides. */
  maxRetries?: number;
  /** Polling interval of the long-running operations when ARM sends no Retry-After. Default 5000 ms, as MIC. */
  pollIntervalMs?: number;
  /** Max identities per PATCH. Default 150, ARM's limit. */
  maxIdentitiesPerRequest?: number;
  /** Prepended to the SDK's User-Agent. */
  userAgentPrefix?: string;
  /**
   * Extra CA certificates (PEM) to trust for an https endpoint (private clouds, emulators). The SDK then
   * sends through Bun's fetch with `tls.ca` instead of its default transport.
   */
  caPem?: string;
  /** Clock for Retry-After dates; tests pass a fixed one. */
  now?: () => number;
}

const DEFAULT_ENDPOINT = "https://management.azure.com/";

/** `https://management.azure.com/` → `https://management.azure.com/.default` (no double slash). */
export function scopeForAudience(audience: string): string {
  return `${audience.replace(/\/+$/, "")}/.default`;
}

/** Reads status, code, message and Retry-After off whatever the SDK threw, without trusting its class. */
export function rawArmFailure(error: unknown): RawArmFailure {
  const record = (typeof error === "object" && error !== null ? error : {}) as Record<string, unknown>;
  const statusCode = typeof record.statusCode === "number" ? record.statusCode : undefined;
  const message = typeof record.message === "string" ? record.message : String(error);
  // A failed long-running operation surfaces as a plain Error: "The long-running operation has failed. <code>. <message>".
  const code =
    typeof record.code === "string"
      ? record.code
      : /^The long-running operation has failed\. ([A-Za-z][\w.]*)\. /.exec(message)?.[1];
  let retryAfter: string | undefined;
  const response = record.response as { headers?: { get?: (name: string) => string | undefined } } | undefined;
  if (typeof response?.headers?.get === "function") {
    retryAfter = response.headers.get("retry-after") ?? undefined;
  }
  return { statusCode, code, message, retryAfter };
}

interface IdentityLike {
  type?: string;
  principalId?: string;
  userAssignedIdentities?: Record<string, { principalId?: string; clientId?: string } | null>;
}

function identityStateOf(resource: { identity?: IdentityLike; provisioningState?: string }): ArmIdentityState {
  const identity = resource.identity;
  const userAssignedIdentities: Record<string, UserAssignedIdentityInfo> = {};
  for (const [id, value] of Object.entries(identity?.userAssignedIdentities ?? {})) {
    const info: UserAssignedIdentityInfo = {};
    if (value?.principalId) info.principalId = value.principalId;
    if (value?.clientId) info.clientId = value.clientId;
    userAssignedIdentities[id] = info;
  }
  const state: ArmIdentityState = { type: identity?.type ?? "None", userAssignedIdentities };
  if (identity?.principalId) state.principalId = identity.principalId;
  if (resource.provisioningState) state.provisioningState = resource.provisioningState;
  return state;
}

/** The SDK's body type forbids null entries, which is how ARM is told to remove an identity. */
function asSdkIdentity(patch: IdentityPatch): {
  type: IdentityPatch["type"];
  userAssignedIdentities: Record<string, object>;
} {
  return patch as unknown as { type: IdentityPatch["type"]; userAssignedIdentities: Record<string, object> };
}

export function createArmIdentityClient(options: ArmIdentityClientOptions): ArmIdentityClient {
  const endpoint = options.endpoint ?? DEFAULT_ENDPOINT;
  const scope = scopeForAudience(options.audience ?? DEFAULT_ENDPOINT);
  const insecure = endpoint.toLowerCase().startsWith("http:");
  const now = options.now ?? Date.now;
  const pollIntervalMs = options.pollIntervalMs ?? 5000;
  const clients = new Map<string, ComputeManagementClient>();

  const clientFor = (subscriptionId: string): ComputeManagementClient => {
    const existing = clients.get(subscriptionId);
    if (existing) return existing;
    const client = new ComputeManagementClient(options.credential, subscriptionId, {
      endpoint,
      credentials: { scopes: [scope] },
      retryOptions: { maxRetries: options.maxRetries ?? 0 },
      allowInsecureConnection: insecure,
      ...(options.caPem ? { httpClient: coreHttpClient(fetchTrustingCa(options.caPem)) } : {}),
      ...(options.userAgentPrefix ? { userAgentOptions: { userAgentPrefix: options.userAgentPrefix } } : {}),
    });
    if (insecure) {
      client.pipeline.removePolicy({ name: "bearerTokenAuthenticationPolicy" });
      client.pipeline.addPolicy({
        name: "plainHttpBearerPolicy",
        async sendRequest(request, next) {
          const token = await options.credential.getToken(scope, { abortSignal: request.abortSignal });
          if (!token) throw new Error(`no ARM token for ${scope}`);
          request.headers.set("authorization", `Bearer ${token.token}`);
          return next(request);
        },
      });
    }
    clients.set(subscriptionId, client);
    return client;
  };

  // Cancellation is the caller's own doing: rethrown as is, not dressed up as an ARM failure.
  const typed = (error: unknown): unknown =>
    error instanceof Error && error.name === "AbortError"
      ? error
      : classifyArmFailure(rawArmFailure(error), now(), error);

  const read = async (target: ArmTarget, signal: AbortSignal | undefined): Promise<ArmIdentityState> => {
    const client = clientFor(target.subscriptionId);
    try {
      const resource =
        target.kind === "vmss"
          ? await client.virtualMachineScaleSets.get(target.resourceGroup, target.name, { abortSignal: signal })
          : await client.virtualMachines.get(target.resourceGroup, target.name, { abortSignal: signal });
      return identityStateOf(resource);
    } catch (error) {
      throw typed(error);
    }
  };

  const patch = async (
    target: ArmTarget,
    body: IdentityPatch,
    signal: AbortSignal | undefined,
  ): Promise<ArmIdentityState> => {
    const client = clientFor(target.subscriptionId);
    const callOptions = { abortSignal: signal, updateIntervalInMs: pollIntervalMs };
    try {
      const resource =
        target.kind === "vmss"
          ? await client.virtualMachineScaleSets.update(
              target.resourceGroup,
              target.name,
              { identity: asSdkIdentity(body) },
              callOptions,
            )
          : await client.virtualMachines.update(
              target.resourceGroup,
              target.name,
              { identity: asSdkIdentity(body) },
              callOptions,
            );
      return identityStateOf(resource);
    } catch (error) {
      throw typed(error);
    }
  };

  return {
    getIdentity: (target, callOptions = {}) => read(target, callOptions.signal),

    async updateIdentities(target, change, callOptions = {}) {
      if (change.add.length === 0 && change.remove.length === 0) {
        return { patches: 0 };
      }
      const current = callOptions.current ?? (await read(target, callOptions.signal));
      if (current.provisioningState?.toLowerCase() === "deleting") {
        throw new ArmResourceDeletingError(
          `${target.kind === "vmss" ? "VMSS" : "VM"} ${target.resourceGroup}/${target.name} is being deleted; its identities are left alone`,
        );
      }
      const patches = planIdentityPatches(
        { type: current.type, userAssignedIds: Object.keys(current.userAssignedIdentities) },
        change,
        options.maxIdentitiesPerRequest ?? MAX_IDENTITIES_PER_REQUEST,
      );
      let identity = current;
      for (const body of patches) identity = await patch(target, body, callOptions.signal);
      return { patches: patches.length, identity };
    },
  };
}
