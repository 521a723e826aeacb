// What MIC needs from the outside world, kept minimal so adapters over src/cloud (ARM) and src/kube
// (CRD client, event recorder, logger) are a few lines each.
import type { AssignedState, AzureAssignedIdentity } from "../../kube/crds.ts";
import type { ArmTarget } from "./node-target.ts";

/** ARM rejects PATCHes naming more user-assigned identities than this (issue #813). */
export const MAX_IDENTITIES_PER_PATCH = 150;

export interface TargetIdentities {
  /** ARM IDs of the user-assigned identities on the VM / VMSS model, as ARM spells them. */
  userAssignedIdentities: string[];
  /** identity.type as ARM reports it ("None" without an identity block); a PATCH must keep SystemAssigned. */
  type: string;
  /** ARM provisioningState; "Deleting" makes MIC leave the target alone. */
  provisioningState?: string | undefined;
}

export interface IdentityDelta {
  /** At most MAX_IDENTITIES_PER_PATCH entries in add and remove together. */
  add: string[];
  remove: string[];
}

export type ArmFailure =
  /** 429: no call to this target before retryAfterMs has passed. */
  | { kind: "throttled"; retryAfterMs: number; message: string }
  /** LinkedAuthorizationFailed / FailedIdentityOperation: ARM refused the identities it named. */
  | { kind: "identity"; code: string; identityIds: string[]; message: string }
  | { kind: "notFound"; message: string }
  /** The VM / VMSS is being deleted. */
  | { kind: "deleting"; message: string }
  /** 5xx (statusCode) or a network error (no statusCode). */
  | { kind: "other"; statusCode?: number | undefined; message: string };

/** What an ArmIdentityPort throws. Branch on `failure.kind`, never on the class name (minified builds). */
export class ArmPortError extends Error {
  readonly failure: ArmFailure;
  constructor(failure: ArmFailure) {
    super(failure.message);
    this.name = "ArmPortError";
    this.failure = failure;
  }
}

export function armFailureOf(error: unknown): ArmFailure {
  if (error instanceof ArmPortError) return error.failure;
  return { kind: "other", message: error instanceof Error ? error.message : String(error) };
}

export interface ArmIdentityPort {
  getIdentity(target: ArmTarget): Promise<TargetIdentities>;
  /**
   * One PATCH of the identity deltas only, built against `current` (what this run read, or what the
   * previous PATCH left) without reading the target again. Resolves once the long-running operation is
   * done, with the target's identities as ARM reports them then.
   */
  updateIdentities(target: ArmTarget, delta: IdentityDelta, current: TargetIdentities): Promise<TargetIdentities>;
}

/**
 * AzureAssignedIdentity writes. Records passed in already carry the finalizer and nodename label.
 * Every call resolves with the object as stored (with its new resourceVersion).
 */
export interface RecordStorePort {
  create(record: AzureAssignedIdentity): Promise<AzureAssignedIdentity>;
  /** PUT; the record carries metadata.resourceVersion (a 409 rejects). */
  update(record: AzureAssignedIdentity): Promise<AzureAssignedIdentity>;
  /** JSON patch [{op:"replace",path:"/status/status",value}] (the CRD has no status subresource). */
  patchStatus(namespace: string, name: string, status: AssignedState): Promise<AzureAssignedIdentity>;
  /** DELETE, then drop the finalizer so the object goes away; a missing object is not an error. */
  delete(namespace: string, name: string): Promise<void>;
}

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string | undefined;
}

export interface MicEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  object: ObjectReference;
}

export interface EventPort {
  emit(event: MicEvent): void;
}

export interface LogPort {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLog: LogPort = { debug() {}, info() {}, warn() {}, error() {} };
