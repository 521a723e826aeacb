import { describe, expect, test } from "bun:test";
import { parseProviderId } from "../../src/cloud/provider-id.ts";

describe("parseProviderId", () => {
  test("a VMSS Uniform instance gives the scale set and the instance", () => {
    expect(
      parseProviderId(
        "azure:///subscriptions/sub-1/resourceGroups/MC_rg_aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/3",
      ),
    ).toEqual({
      subscriptionId: "sub-1",
      resourceGroup: "MC_rg_aks_westeurope",
      kind: "vmss",
      name: "aks-nodepool1-12345678-vmss",
      instanceId: "3",
    });
  });

  test("a VM (and a VMSS Flex node, which has a VM providerID) gives the VM", () => {
    expect(
      parseProviderId(
        "azure:///subscriptions/sub-2/resourceGroups/rg2/providers/Microsoft.Compute/virtualMachines/aks-agentpool-1-0",
      ),
    ).toEqual({ subscriptionId: "sub-2", resourceGroup: "rg2", kind: "vm", name: "aks-agentpool-1-0" });
  });

  test("segment names match case-insensitively and keep their spelling", () => {
    expect(
      parseProviderId(
        "azure:///subscriptions/S/resourcegroups/Rg.(x)/providers/microsoft.compute/VIRTUALMACHINESCALESETS/Set1/VirtualMachines/12",
      ),
    ).toEqual({ subscriptionId: "S", resourceGroup: "Rg.(x)", kind: "vmss", name: "Set1", instanceId: "12" });
  });

  test("non-Azure and malformed IDs give null", () => {
    for (const id of [
      "",
      "aws:///us-east-1a/i-0123",
      "kind://docker/kind/kind-control-plane",
      "azure:///subscriptions/S/resourceGroups/R",
      "azure:///subscriptions/S/resourceGroups/R/providers/Microsoft.Compute/virtualMachineScaleSets/ss",
      "azure:///subscriptions/S/resourceGroups/R/providers/Microsoft.Compute/virtualMachines/vm/virtualMachines/1",
      "azure:///subscriptions/S/resourceGroups/R/providers/Microsoft.Network/virtualMachines/vm",
    ]) {
      expect(parseProviderId(id)).toBeNull();
    }
  });
});
