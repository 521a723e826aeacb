import { describe, expect, test } from "bun:test";
import { nodeTarget } from "../../src/roles/mic/node-target.ts";

const fallback = { subscriptionId: "cfg-sub", resourceGroup: "cfg-rg" };

describe("node → VM / VMSS target", () => {
  test("VMSS instance maps to its scale set, with subscription and resource group from the providerID", () => {
    const t = nodeTarget(
      {
        name: "aks-pool-0",
        providerId:
          "azure:///subscriptions/S1/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss/virtualMachines/3",
      },
      fallback,
    );
    expect(t).toMatchObject({
      kind: "vmss",
      subscriptionId: "S1",
      resourceGroup: "MC_rg",
      name: "aks-pool-vmss",
      fromFallback: false,
    });
  });

  test("all instances of one scale set share one key, case-insensitively", () => {
    const a = nodeTarget(
      {
        name: "n0",
        providerId:
          "azure:///subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0",
      },
      fallback,
    );
    const b = nodeTarget(
      {
        name: "n1",
        providerId:
          "AZURE:///SUBSCRIPTIONS/S/RESOURCEGROUPS/rg/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINESCALESETS/SS/VIRTUALMACHINES/1",
      },
      fallback,
    );
    expect(a?.key).toBe(b?.key ?? "");
  });

  test("a VM (or VMSS Flex instance) maps to that VM", () => {
    const t = nodeTarget(
      {
        name: "node-a",
        providerId:
          "azure:///subscriptions/s2/resourceGroups/other-rg/providers/Microsoft.Compute/virtualMachines/vm-a",
      },
      fallback,
    );
    expect(t).toMatchObject({ kind: "vm", subscriptionId: "s2", resourceGroup: "other-rg", name: "vm-a" });
    expect(t?.key).toBe("/subscriptions/s2/resourcegroups/other-rg/providers/microsoft.compute/virtualmachines/vm-a");
  });

  test("no usable providerID falls back to the config's scope and the node name as VM", () => {
    expect(nodeTarget({ name: "node-b", providerId: "kind://docker/x" }, fallback)).toMatchObject({
      kind: "vm",
      subscriptionId: "cfg-sub",
      resourceGroup: "cfg-rg",
      name: "node-b",
      fromFallback: true,
    });
    expect(nodeTarget({ name: "node-b" }, undefined)).toBeUndefined();
  });
});
