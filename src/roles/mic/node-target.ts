// Which ARM resource carries a node's identities. aad-pod-identity always used the config's
// subscription and resource group (§9.13); here both come from the node's providerID, so node pools
// in other resource groups or subscriptions work. The config scope is only a fallback for nodes
// without a usable providerID, with the node name as VM name (as aad-pod-identity assumed).

import { parseProviderId } from "../../cloud/provider-id.ts";

export interface ArmScope {
  subscriptionId: string;
  resourceGroup: string;
}

export interface ArmTarget extends ArmScope {
  kind: "vm" | "vmss";
  /** VM name, or scale set name for VMSS (Uniform) instances: identities live on the scale set model. */
  name: string;
  /** Lower-cased ARM resource ID: one queue per key, and the same key for every instance of a scale set. */
  key: string;
  /** True when derived from the fallback scope rather than the providerID. */
  fromFallback: boolean;
}

export interface NodeInfo {
  name: string;
  providerId?: string | undefined;
}

export function armResourceId(target: Omit<ArmTarget, "key" | "fromFallback">): string {
  const type = target.kind === "vmss" ? "virtualMachineScaleSets" : "virtualMachines";
  return `/subscriptions/${target.subscriptionId}/resourceGroups/${target.resourceGroup}/providers/Microsoft.Compute/${type}/${target.name}`;
}

function makeTarget(kind: "vm" | "vmss", scope: ArmScope, name: string, fromFallback: boolean): ArmTarget {
  const base = { kind, subscriptionId: scope.subscriptionId, resourceGroup: scope.resourceGroup, name };
  return { ...base, key: armResourceId(base).toLowerCase(), fromFallback };
}

/** The node's VM / VMSS, or undefined when neither its providerID nor a fallback scope tells. */
export function nodeTarget(node: NodeInfo, fallback: ArmScope | undefined): ArmTarget | undefined {
  // VMSS Flex instances have VM-shaped provider IDs and behave like VMs, as they should.
  const parsed = parseProviderId(node.providerId ?? "");
  if (parsed) return makeTarget(parsed.kind, parsed, parsed.name, false);
  if (fallback?.subscriptionId && fallback.resourceGroup && node.name) {
    return makeTarget("vm", fallback, node.name, true);
  }
  return undefined;
}
