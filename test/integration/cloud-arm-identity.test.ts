// @azure/arm-compute driven by createArmIdentityClient against the ARM emulator: identity PATCHes
// through the Azure-AsyncOperation long-running operation, chunking, throttling and identity errors,
// and updates built from the caller's own read (no GET before the PATCH: a MIC run is one GET).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TokenCredential } from "@azure/identity";
import { type ArmEmulator, startArmEmulator } from "../../emulators/arm/index.ts";
import { createCertificateAuthority } from "../../emulators/common/pki.ts";
import {
  ArmIdentityError,
  ArmNotFoundError,
  ArmResourceDeletingError,
  ArmThrottledError,
} from "../../src/cloud/arm-errors.ts";
import { type ArmTarget, createArmIdentityClient } from "../../src/cloud/arm-identity-client.ts";

const SUB = "00000000-1111-2222-3333-444444444444";
const RG = "MC_rg_cluster_westus2";
const computeId = (kind: "virtualMachines" | "virtualMachineScaleSets", name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/${kind}/${name}`;
const identityId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const vmss = (name: string): ArmTarget => ({ kind: "vmss", subscriptionId: SUB, resourceGroup: RG, name });
const vm = (name: string): ArmTarget => ({ kind: "vm", subscriptionId: SUB, resourceGroup: RG, name });

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

const patchesTo = (resourceId: string) =>
  arm.calls().filter((call) => call.method === "PATCH" && call.resourceId?.toLowerCase() === resourceId.toLowerCase());
const lower = (ids: string[]) => ids.map((x) => x.toLowerCase()).sort();

describe("ARM identity client over http", () => {
  test("a VMSS gains and loses user-assigned identities through the long-running operation", async () => {
    const id = computeId("virtualMachineScaleSets", "pool1-vmss");
    arm.addVmss(id);
    const a = identityId("id-a");
    const b = identityId("id-b");
    arm.addUserAssignedIdentity(a);
    const bInfo = arm.addUserAssignedIdentity(b);

    const added = await client.updateIdentities(vmss("pool1-vmss"), { add: [a, b], remove: [] });
    expect(added.patches).toBe(1);
    // The client waited on the operation resource, and only then is the identity visible.
    expect(arm.calls().some((call) => call.method === "GET" && /\/operations\//i.test(call.path))).toBe(true);
    expect(lower(Object.keys(arm.identityOf(id)?.userAssignedIdentities ?? {}))).toEqual(lower([a, b]));
    expect(arm.identityOf(id)?.type).toBe("UserAssigned");

    const read = await client.getIdentity(vmss("pool1-vmss"));
    const bKey = Object.keys(read.userAssignedIdentities).find((key) => key.toLowerCase() === b.toLowerCase());
    expect(bKey).toBeDefined();
    expect(read.userAssignedIdentities[bKey!]?.clientId).toBe(bInfo.clientId);

    await client.updateIdentities(vmss("pool1-vmss"), { add: [], remove: [a.toUpperCase()] });
    expect(lower(Object.keys(arm.identityOf(id)?.userAssignedIdentities ?? {}))).toEqual(lower([b]));

    await client.updateIdentities(vmss("pool1-vmss"), { add: [], remove: [b] });
    expect(arm.identityOf(id)?.type).toBe("None");
    expect(Object.keys(arm.identityOf(id)?.userAssignedIdentities ?? {})).toEqual([]);
  });

  test("a VM keeps its system-assigned identity across user identity changes; no-op changes send no PATCH", async () => {
    const id = computeId("virtualMachines", "node-0");
    arm.addVm(id, { systemAssigned: true });
    const c = identityId("id-c");
    arm.addUserAssignedIdentity(c);

    await client.updateIdentities(vm("node-0"), { add: [c], remove: [] });
    expect(arm.identityOf(id)?.type).toBe("SystemAssigned, UserAssigned");

    const before = patchesTo(id).length;
    const again = await client.updateIdentities(vm("node-0"), {
      add: [c.toLowerCase()],
      remove: [identityId("never")],
    });
    expect(again.patches).toBe(0);
    expect(patchesTo(id).length).toBe(before);

    await client.updateIdentities(vm("node-0"), { add: [], remove: [c] });
    expect(arm.identityOf(id)?.type).toBe("SystemAssigned");
  });

  test("more than 150 identities go out in chunks of at most 150, one after another", async () => {
    const id = computeId("virtualMachineScaleSets", "big-vmss");
    arm.addVmss(id);
    const ids = Array.from({ length: 155 }, (_, i) => identityId(`bulk-${i}`));
    for (const x of ids) arm.addUserAssignedIdentity(x);

    const result = await client.updateIdentities(vmss("big-vmss"), { add: ids, remove: [] });
    expect(result.patches).toBe(2);
    expect(patchesTo(id).filter((call) => call.status < 300)).toHaveLength(2);
    expect(Object.keys(arm.identityOf(id)?.userAssignedIdentities ?? {})).toHaveLength(155);
  });

  test("429 becomes ArmThrottledError with ARM's Retry-After", async () => {
    const id = computeId("virtualMachineScaleSets", "busy-vmss");
    arm.addVmss(id);
    arm.addUserAssignedIdentity(identityId("id-t"));
    arm.throttleNext(id, 7, 1);
    const error = await client.getIdentity(vmss("busy-vmss")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArmThrottledError);
    expect((error as ArmThrottledError).retryAfterMs).toBe(7_000);
    // The throttle was for one call only.
    await client.updateIdentities(vmss("busy-vmss"), { add: [identityId("id-t")], remove: [] });
  });

  test("an identity the caller may not assign gives ArmIdentityError(LinkedAuthorizationFailed) naming it", async () => {
    const id = computeId("virtualMachineScaleSets", "denied-vmss");
    arm.addVmss(id);
    const ok = identityId("id-ok");
    const denied = identityId("id-denied");
    arm.addUserAssignedIdentity(ok);
    arm.addUserAssignedIdentity(denied);
    arm.denyIdentity(denied, "LinkedAuthorizationFailed");
    const error = await client.updateIdentities(vmss("denied-vmss"), { add: [ok, denied], remove: [] }).catch((e) => e);
    expect(error).toBeInstanceOf(ArmIdentityError);
    expect((error as ArmIdentityError).code).toBe("LinkedAuthorizationFailed");
    expect(lower((error as ArmIdentityError).identityIds)).toEqual(lower([denied]));
  });

  test("an identity that does not exist gives ArmIdentityError(FailedIdentityOperation) naming it", async () => {
    const id = computeId("virtualMachineScaleSets", "missing-id-vmss");
    arm.addVmss(id);
    const ok = identityId("id-exists");
    const ghost = identityId("id-ghost");
    arm.addUserAssignedIdentity(ok);
    const error = await client
      .updateIdentities(vmss("missing-id-vmss"), { add: [ok, ghost], remove: [] })
      .catch((e) => e);
    expect(error).toBeInstanceOf(ArmIdentityError);
    expect((error as ArmIdentityError).code).toBe("FailedIdentityOperation");
    expect(lower((error as ArmIdentityError).identityIds)).toEqual(lower([ghost]));
  });

  test("a missing scale set is ArmNotFoundError; one being deleted is refused without a PATCH", async () => {
    const missing = await client.getIdentity(vmss("no-such-vmss")).catch((e) => e);
    expect(missing).toBeInstanceOf(ArmNotFoundError);

    const id = computeId("virtualMachineScaleSets", "dying-vmss");
    arm.addVmss(id);
    arm.addUserAssignedIdentity(identityId("id-d"));
    arm.setProvisioningState(id, "Deleting");
    const refused = await client
      .updateIdentities(vmss("dying-vmss"), { add: [identityId("id-d")], remove: [] })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(ArmResourceDeletingError);
    expect(patchesTo(id)).toHaveLength(0);
  });
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
    const id = computeId("virtualMachineScaleSets", "current-vmss");
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
    const id = computeId("virtualMachineScaleSets", "noop-vmss");
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
    const id = computeId("virtualMachineScaleSets", "plain-vmss");
    arm.addVmss(id);
    const a = identityId("plain-a");
    arm.addUserAssignedIdentity(a);
    const since = arm.calls().length;
    await client.updateIdentities(vmss("plain-vmss"), { add: [a], remove: [] });
    expect(resourceCalls(id, since)).toEqual(["GET", "PATCH", "GET"]);
  });
});

describe("ARM identity client over https with a CA given by option", () => {
  test("updates a VMSS on an https emulator whose CA the process does not trust by default", async () => {
    const ca = createCertificateAuthority();
    const tls = ca.issueServer({ ips: ["127.0.0.1"] });
    const secure = await startArmEmulator({ host: "127.0.0.1", port: 0, tls });
    try {
      expect(secure.url.startsWith("https://")).toBe(true);
      const id = computeId("virtualMachineScaleSets", "tls-vmss");
      secure.addVmss(id);
      const x = identityId("id-x");
      secure.addUserAssignedIdentity(x);
      const httpsClient = createArmIdentityClient({
        credential: fakeCredential,
        endpoint: secure.url,
        pollIntervalMs: 20,
        caPem: ca.certPem,
      });
      await httpsClient.updateIdentities(vmss("tls-vmss"), { add: [x], remove: [] });
      expect(lower(Object.keys(secure.identityOf(id)?.userAssignedIdentities ?? {}))).toEqual(lower([x]));
    } finally {
      await secure.stop();
    }
  });
});
