// Lifecycle of an AzureAssignedIdentity record and the events that go with it (§3.3, §4.8):
//   (none) → Created (record written, ARM not confirmed) → Assigned (ARM confirmed)
//          → Unassigned (no longer desired; its identity's removal is pending) → deleted.
// A record whose identity needs no ARM change is written directly in its final state, and a record
// whose identity stays on the target (still used, immutable, user-owned) is deleted without passing
// Unassigned: fewer API writes (§9.21), same meaning for NMI, which only serves Assigned records.
// A record waiting for its identity's removal (grace period, ARM retries) is Unassigned, never
// Assigned: aad-pod-identity kept granting it until the PATCH was done.
// The legacy empty status of records written before aad-pod-identity v1.5 counts as Assigned.
import { type AssignedState, AssignedState as State } from "../../kube/crds.ts";

export const EventReason = {
  BindingApplied: "binding applied",
  BindingApplyError: "binding apply error",
  StatusUpdateError: "status update error",
  BindingRemoved: "binding removed",
  BindingRemoveError: "binding remove error",
} as const;

/** True when NMI may serve the record: confirmed on the VM / VMSS (or legacy, which meant the same). */
export function isAssigned(status: AssignedState | undefined): boolean {
  return status === State.Assigned || status === State.Legacy || status === undefined;
}

/** JSON patch for /status/status: the CRD has no status subresource (§3). */
export function statusPatch(status: AssignedState): { op: "replace"; path: "/status/status"; value: AssignedState }[] {
  return [{ op: "replace", path: "/status/status", value: status }];
}

export function bindingAppliedMessage(bindingName: string, nodeName: string, recordName: string): string {
  return `Binding ${bindingName} applied on node ${nodeName} for pod ${recordName}`;
}

export function bindingApplyErrorMessage(
  bindingName: string,
  nodeName: string,
  recordName: string,
  detail: string,
): string {
  return `failed to apply binding ${bindingName} node ${nodeName} for pod ${recordName}, error: ${detail}`;
}

export function statusUpdateErrorMessage(recordName: string, status: AssignedState, detail: string): string {
  return `failed to update status of AzureAssignedIdentity ${recordName} to ${status}, error: ${detail}`;
}

export function bindingRemovedMessage(bindingName: string, nodeName: string, recordName: string): string {
  return `Binding ${bindingName} removed from node ${nodeName} for pod ${recordName}`;
}

export function bindingRemoveErrorMessage(
  bindingName: string,
  nodeName: string,
  recordName: string,
  detail: string,
): string {
  return `Binding ${bindingName} removal from node ${nodeName} for pod ${recordName} resulted in error ${detail}`;
}
