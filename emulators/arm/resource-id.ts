// ARM resource IDs are case-insensitive; the emulator keys everything by a normalised form and
// keeps the caller's spelling for display, as ARM does.
import { createHash } from "node:crypto";

export type ComputeKind = "virtualMachines" | "virtualMachineScaleSets";

export interface ComputeResourceId {
  subscriptionId: string;
  resourceGroup: string;
  kind: ComputeKind;
  name: string;
  /** Canonical spelling: `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/{kind}/{name}`. */
  id: string;
}

const computePattern =
  /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.compute\/(virtualmachines|virtualmachinescalesets)\/([^/]+)(?:\/virtualmachines\/[^/]+)?\/?$/i;

/** Parses a VM or VMSS ID (a VMSS instance ID maps to its scale set, whose identities it sees). */
export function parseComputeId(resourceId: string): ComputeResourceId | undefined {
  const match = computePattern.exec(resourceId.replace(/^azure:\/\//i, ""));
  if (!match) return undefined;
  const [, subscriptionId = "", resourceGroup = "", kindText = "", name = ""] = match;
  const kind: ComputeKind =
    kindText.toLowerCase() === "virtualmachines" ? "virtualMachines" : "virtualMachineScaleSets";
  return {
    subscriptionId,
    resourceGroup,
    kind,
    name,
    id: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/${kind}/${name}`,
  };
}

const identityPattern =
  /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.managedidentity\/userassignedidentities\/[^/]+$/i;

export function isUserAssignedIdentityId(resourceId: string): boolean {
  return identityPattern.test(resourceId);
}

export function normaliseId(resourceId: string): string {
  return resourceId.toLowerCase().replace(/\/+$/, "");
}

/** A GUID derived from a seed, so the same identity always gets the same clientId / principalId. */
export function deterministicGuid(...seed: string[]): string {
  const hex = createHash("sha256").update(seed.join("\u0000")).digest("hex");
  const variant = ((Number.parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
