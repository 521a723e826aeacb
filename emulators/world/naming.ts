// How AKS names what the emulated world contains: scale sets, their instances' node names, VMs,
// node providerIDs and the ARM IDs of VMs, scale sets and user-assigned identities. Pure.

export interface ArmScope {
  subscriptionId: string;
  resourceGroup: string;
}

/** A Kubernetes node and the ARM resource (VM or scale set) that carries its identities. */
export interface WorldNode {
  name: string;
  /** `spec.providerID`, exactly as the Azure cloud provider writes it. */
  providerID: string;
  kind: "vm" | "vmss";
  /** ARM ID of the VM, or of the scale set for a VMSS instance. */
  computeResourceId: string;
  /** The scale set for a VMSS instance, the VM's name otherwise. */
  computeName: string;
  instanceId?: string;
  /** Agent pool name AKS derives from the resource name (labels `agentpool`). */
  pool: string;
  internalIP: string;
}

export function computeResourceId(scope: ArmScope, kind: "vm" | "vmss", name: string): string {
  const type = kind === "vm" ? "virtualMachines" : "virtualMachineScaleSets";
  return `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup}/providers/Microsoft.Compute/${type}/${name}`;
}

export function userAssignedIdentityId(scope: ArmScope, name: string): string {
  return `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
}

/**
 * AKS computer names of VMSS instances: the scale set name (`aks-nodepool1-12345678-vmss`) followed by
 * the instance ID in base 36, zero-padded to six characters (`aks-nodepool1-12345678-vmss00000a`).
 */
export function vmssInstanceNodeName(scaleSet: string, instanceId: number): string {
  return `${scaleSet}${instanceId.toString(36).padStart(6, "0")}`;
}

/** `aks-nodepool1-12345678-vmss` / `aks-agentpool-12345678-0` → the pool name; else the whole name. */
export function poolOf(resourceName: string): string {
  return /^aks-([a-z0-9]+)-\d+-/.exec(resourceName)?.[1] ?? resourceName;
}

/** Lays out the nodes of the given scale sets and VMs, with node IPs from 10.240.0.4 upwards as AKS does. */
export function layoutNodes(
  scope: ArmScope,
  scaleSets: ReadonlyArray<{ name: string; nodes: number }>,
  vms: readonly string[],
): WorldNode[] {
  const nodes: WorldNode[] = [];
  const nextIp = () => `10.240.0.${4 + nodes.length}`;
  for (const scaleSet of scaleSets) {
    const resourceId = computeResourceId(scope, "vmss", scaleSet.name);
    for (let instance = 0; instance < scaleSet.nodes; instance++) {
      nodes.push({
        name: vmssInstanceNodeName(scaleSet.name, instance),
        providerID: `azure://${resourceId}/virtualMachines/${instance}`,
        kind: "vmss",
        computeResourceId: resourceId,
        computeName: scaleSet.name,
        instanceId: String(instance),
        pool: poolOf(scaleSet.name),
        internalIP: nextIp(),
      });
    }
  }
  for (const vm of vms) {
    const resourceId = computeResourceId(scope, "vm", vm);
    nodes.push({
      name: vm,
      providerID: `azure://${resourceId}`,
      kind: "vm",
      computeResourceId: resourceId,
      computeName: vm,
      pool: poolOf(vm),
      internalIP: nextIp(),
    });
  }
  return nodes;
}
