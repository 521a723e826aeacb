// Kubernetes node providerID → the ARM resource that carries the node's identities.
// VMSS Uniform nodes: azure:///subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/SS/virtualMachines/ID
// VM and VMSS Flex nodes: azure:///subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/NAME

export interface ProviderId {
  subscriptionId: string;
  resourceGroup: string;
  kind: "vm" | "vmss";
  /** VM name, or the scale set name for VMSS instances. */
  name: string;
  /** VMSS instance ID, only for VMSS Uniform nodes. */
  instanceId?: string;
}

const PROVIDER_ID =
  /^azure:\/\/\/?subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/(virtualMachines|virtualMachineScaleSets)\/([^/]+)(?:\/virtualMachines\/([^/]+))?\/?$/i;

/** Parses a node's spec.providerID; null for anything that is not an Azure VM or VMSS instance. */
export function parseProviderId(providerId: string): ProviderId | null {
  const match = PROVIDER_ID.exec(providerId.trim());
  if (!match) return null;
  const [, subscriptionId, resourceGroup, type, name, instanceId] = match;
  if (!subscriptionId || !resourceGroup || !type || !name) return null;
  const isScaleSet = type.toLowerCase() === "virtualmachinescalesets";
  // A VM path with a nested virtualMachines segment is not a valid node ID, and a scale set needs its instance.
  if (isScaleSet !== (instanceId !== undefined)) return null;
  return isScaleSet
    ? { subscriptionId, resourceGroup, kind: "vmss", name, instanceId }
    : { subscriptionId, resourceGroup, kind: "vm", name };
}
