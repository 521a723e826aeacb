// createArmIdentityClient.updateIdentities given the caller's fresh read (`current`): the PATCH is
// built from it and no GET precedes it, so a MIC run is one GET then its PATCHes (ARM emulator log).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TokenCredential } from "@azure/identity";
import { type ArmEmulator, startArmEmulator } from "../../emulators/arm/index.ts";
import { type ArmTarget, createArmIdentityClient } from "../../src/cloud/arm-identity-client.ts";

const SUB = "00000000-1111-2222-3333-555555555555";
const RG = "MC_rg_current_westus2";
const vmssId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
const identityId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const vmss = (name: string): ArmTarget => ({ kind: "vmss", subscriptionId: SUB, resourceGroup: RG, name });

const fakeCredential: TokenCredential = {
  getToken: async () => ({ token: "test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

let arm: ArmEmulator;
let client: ReturnType<typeof createArmIdentityClient>;

beforeAll(async () => {
  arm = await startArmEmulator({ host: "127.0.0.1", port: 0 });
  client = createArmIdentityClient({ credential: fakeCredential, endpoint: arm.url, pollIntervalMs: 20 });
});
afterAll(async () => {
  await arm.stop();
});

/** Calls on the resource itself, in order; the long-running operation's own polls are left out. */
const resourceCalls = (resourceId: string, since: number) =>
  arm
    .calls()
    .slice(since)
    .filter((c) => c.resourceId?.toLowerCase() === resourceId.toLowerCase())
    .map((c) => c.method);

describe("ARM identity client, update from the caller's read", () => {
  test("with `current` the PATCH goes out without a GET before it, and keeps the system-assigned identity", async () => {
    const id = vmssId("current-vmss");
    arm.addVmss(id, { systemAssigned: true });
    const a = identityId("cur-a");
    arm.addUserAssignedIdentity(a);
    const read = await client.getIdentity(vmss("current-vmss"));
    expect(read.type).toBe("SystemAssigned");

    const since = arm.calls().length;
    const result = await client.updateIdentities(vmss("current-vmss"), { add: [a], remove: [] }, { current: read });
    expect(result.patches).toBe(1);
    // PATCH, then the long-running operation's final read of the resource: no GET before the PATCH.
    expect(resourceCalls(id, since)).toEqual(["PATCH", "GET"]);
    expect(arm.identityOf(id)?.type).toBe("SystemAssigned, UserAssigned");
    expect(result.identity?.type).toBe("SystemAssigned, UserAssigned");
    expect(Object.keys(result.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase())).toEqual([
      a.toLowerCase(),
    ]);
  });

  test("with `current` naming nothing to change, nothing is sent at all", async () => {
    const id = vmssId("noop-vmss");
    const a = identityId("noop-a");
    arm.addUserAssignedIdentity(a);
    arm.addVmss(id, { userAssigned: [a] });
    const read = await client.getIdentity(vmss("noop-vmss"));
    const since = arm.calls().length;
    const result = await client.updateIdentities(vmss("noop-vmss"), { add: [a], remove: [] }, { current: read });
    expect(result.patches).toBe(0);
    expect(resourceCalls(id, since)).toEqual([]);
  });

  test("without `current` the client reads the target first, as before", async () => {
    const id = vmssId("plain-vmss");
    arm.addVmss(id);
    const a = identityId("plain-a");
    arm.addUserAssignedIdentity(a);
    const since = arm.calls().length;
    await client.updateIdentities(vmss("plain-vmss"), { add: [a], remove: [] });
    expect(resourceCalls(id, since)).toEqual(["GET", "PATCH", "GET"]);
  });
});
