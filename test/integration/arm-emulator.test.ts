// The ARM emulator driven by the real @azure/arm-compute client: the LRO protocol, identity
// add/remove and type transitions, and ARM's errors (150 limit, FailedIdentityOperation,
// LinkedAuthorizationFailed, Deleting, 404, 429 + Retry-After).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ComputeManagementClient, type UserAssignedIdentitiesValue } from "@azure/arm-compute";
import { type ArmEmulator, startArmEmulator } from "../../emulators/arm/index.ts";
import { createTokenIssuer } from "../../emulators/common/jwt.ts";
import { createCertificateAuthority } from "../../emulators/common/pki.ts";

const SUB = "11111111-2222-3333-4444-555555555555";
const RG = "node-rg";
const vmssId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
const vmId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${name}`;
const identityId = (name: string) =>
  `/subscriptions/${SUB}/resourcegroups/identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

let arm: ArmEmulator;
let client: ComputeManagementClient;

function computeClient(url: string): ComputeManagementClient {
  const credential = { getToken: async () => ({ token: "fake-token", expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const c = new ComputeManagementClient(credential, SUB, {
    endpoint: url,
    allowInsecureConnection: true,
    retryOptions: { maxRetries: 0 },
  });
  // core-rest-pipeline refuses bearer tokens over http; set the header ourselves for the http emulator.
  c.pipeline.removePolicy({ name: "bearerTokenAuthenticationPolicy" });
  c.pipeline.addPolicy({
    name: "testBearer",
    sendRequest: (request, next) => {
      request.headers.set("authorization", "Bearer fake-token");
      return next(request);
    },
  });
  return c;
}

const add = (...ids: string[]) => Object.fromEntries(ids.map((id) => [id, {}]));
const remove = (...ids: string[]) =>
  Object.fromEntries(ids.map((id) => [id, null as unknown as UserAssignedIdentitiesValue]));

async function errorOf(p: Promise<unknown>): Promise<{
  statusCode?: number;
  code?: string;
  message: string;
  response?: { headers: { get(n: string): string | undefined } };
}> {
  try {
    await p;
  } catch (err) {
    return err as never;
  }
  throw new Error("expected the call to fail");
}

beforeAll(async () => {
  arm = await startArmEmulator();
  client = computeClient(arm.url);
  for (const n of ["a", "b", "c", "denied", "other"]) arm.addUserAssignedIdentity(identityId(n));
  arm.denyIdentity(identityId("denied"), "LinkedAuthorizationFailed");
});
afterAll(() => arm.stop());

describe("ARM emulator with @azure/arm-compute", () => {
  test("VMSS PATCH answers 200 + Azure-AsyncOperation and the identity lands when the operation succeeds", async () => {
    arm.addVmss(vmssId("pool1"));
    arm.setLatency("lro", 150, vmssId("pool1"));
    const poller = client.virtualMachineScaleSets.update(
      RG,
      "pool1",
      { identity: { type: "UserAssigned", userAssignedIdentities: add(identityId("a")) } },
      { updateIntervalInMs: 20 },
    );
    await Bun.sleep(30);
    // Still in progress: not applied yet.
    expect(arm.identityOf(vmssId("pool1"))?.type).toBe("None");
    const result = await poller;
    expect(result.identity?.type).toBe("UserAssigned");
    expect(Object.keys(result.identity?.userAssignedIdentities ?? {})).toEqual([identityId("a")]);
    expect(result.provisioningState).toBe("Succeeded");
    const calls = arm.calls().filter((c) => c.resourceId === vmssId("pool1") || c.path.includes("/operations/"));
    expect(calls[0]).toMatchObject({ method: "PATCH", status: 200 });
    expect(calls.some((c) => c.method === "GET" && c.path.includes("/operations/"))).toBe(true);
    // The final GET is on the resource itself, not the operation.
    expect(calls.at(-1)).toMatchObject({ method: "GET", resourceId: vmssId("pool1"), status: 200 });
  });

  test("GET returns the identity with clientId / principalId from the catalogue, matching IDs case-insensitively", async () => {
    const expected = arm.addUserAssignedIdentity(identityId("a"));
    const vmss = await client.virtualMachineScaleSets.get(RG.toUpperCase(), "POOL1");
    expect(vmss.identity?.userAssignedIdentities?.[identityId("a")]).toEqual(expected);
  });

  test("type transitions: add to system-assigned, remove with null, back to SystemAssigned, then None", async () => {
    arm.addVm(vmId("vm1"), { systemAssigned: true });
    const vm0 = await client.virtualMachines.get(RG, "vm1");
    expect(vm0.identity?.type).toBe("SystemAssigned");
    const systemPrincipal = vm0.identity?.principalId;
    expect(systemPrincipal).toMatch(/^[0-9a-f-]{36}$/);

    const upper = identityId("b").toUpperCase();
    let vm = await client.virtualMachines.update(
      RG,
      "vm1",
      {
        identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: add(upper, identityId("c")) },
      },
      { updateIntervalInMs: 10 },
    );
    expect(vm.identity?.type).toBe("SystemAssigned, UserAssigned");
    expect(vm.identity?.principalId).toBe(systemPrincipal);
    // ARM echoes the spelling the caller used.
    expect(Object.keys(vm.identity?.userAssignedIdentities ?? {}).sort()).toEqual([identityId("c"), upper].sort());

    vm = await client.virtualMachines.update(
      RG,
      "vm1",
      {
        identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: remove(identityId("b")) },
      },
      { updateIntervalInMs: 10 },
    );
    expect(Object.keys(vm.identity?.userAssignedIdentities ?? {})).toEqual([identityId("c")]);

    vm = await client.virtualMachines.update(
      RG,
      "vm1",
      { identity: { type: "SystemAssigned", userAssignedIdentities: remove(identityId("c")) } },
      { updateIntervalInMs: 10 },
    );
    expect(vm.identity?.type).toBe("SystemAssigned");
    expect(vm.identity?.userAssignedIdentities).toBeUndefined();

    vm = await client.virtualMachines.update(RG, "vm1", { identity: { type: "None" } }, { updateIntervalInMs: 10 });
    expect(vm.identity).toBeUndefined();
    expect(arm.identityOf(vmId("vm1"))?.type).toBe("None");
  });

  test("more than 150 identities in one request is refused with ARM's FailedIdentityOperation message", async () => {
    arm.addVmss(vmssId("big"));
    const ids = Array.from({ length: 151 }, (_, i) => identityId(`bulk${i}`));
    for (const id of ids) arm.addUserAssignedIdentity(id);
    const err = await errorOf(
      client.virtualMachineScaleSets.update(RG, "big", {
        identity: { type: "UserAssigned", userAssignedIdentities: add(...ids) },
      }),
    );
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe("FailedIdentityOperation");
    expect(err.message).toContain("User Assigned Identities Number '151' Assign exceed limit '150' in one request");
    // 150 is fine.
    const ok = await client.virtualMachineScaleSets.update(
      RG,
      "big",
      { identity: { type: "UserAssigned", userAssignedIdentities: add(...ids.slice(0, 150)) } },
      { updateIntervalInMs: 10 },
    );
    expect(Object.keys(ok.identity?.userAssignedIdentities ?? {})).toHaveLength(150);
  });

  test("a missing identity → FailedIdentityOperation quoting it; a denied one → LinkedAuthorizationFailed listing them", async () => {
    arm.addVmss(vmssId("pool2"));
    const ghost = identityId("ghost");
    const missing = await errorOf(
      client.virtualMachineScaleSets.update(RG, "pool2", {
        identity: { type: "UserAssigned", userAssignedIdentities: add(identityId("a"), ghost) },
      }),
    );
    expect(missing.statusCode).toBe(400);
    expect(missing.code).toBe("FailedIdentityOperation");
    expect(missing.message).toContain(`Resource '${ghost}' was not found.`);

    const denied = await errorOf(
      client.virtualMachineScaleSets.update(RG, "pool2", {
        identity: { type: "UserAssigned", userAssignedIdentities: add(identityId("a"), identityId("denied")) },
      }),
    );
    expect(denied.statusCode).toBe(403);
    expect(denied.code).toBe("LinkedAuthorizationFailed");
    expect(denied.message).toContain(
      `'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '${identityId("denied")}' or the linked scope(s) are invalid.`,
    );
    // aad-pod-identity's MIC pattern finds the quoted IDs in the message.
    const micPattern =
      /'(,?\/subscriptions\/[a-zA-Z0-9-_]+\/resourcegroups\/[a-zA-Z0-9-_]+\/providers\/Microsoft.ManagedIdentity\/userAssignedIdentities\/[a-zA-Z0-9-_]+)+'/i;
    expect(micPattern.exec(denied.message)?.[0]).toBe(`'${identityId("denied")}'`);
    expect(micPattern.exec(missing.message)?.[0]).toBe(`'${ghost}'`);
    // Nothing was applied.
    expect(arm.identityOf(vmssId("pool2"))?.type).toBe("None");
  });

  test("unknown resources give 404 ResourceNotFound; a VMSS being deleted refuses updates", async () => {
    const notFound = await errorOf(client.virtualMachineScaleSets.get(RG, "nope"));
    expect(notFound.statusCode).toBe(404);
    expect(notFound.code).toBe("ResourceNotFound");

    arm.addVmss(vmssId("doomed"));
    arm.setProvisioningState(vmssId("doomed"), "Deleting");
    const refused = await errorOf(
      client.virtualMachineScaleSets.update(RG, "doomed", {
        identity: { type: "UserAssigned", userAssignedIdentities: add(identityId("a")) },
      }),
    );
    expect(refused.statusCode).toBe(409);
    expect(refused.message).toContain("marked for deletion");
    expect((await client.virtualMachineScaleSets.get(RG, "doomed")).provisioningState).toBe("Deleting");
  });

  test("throttleNext gives 429 with Retry-After to the SDK, then the resource answers again", async () => {
    arm.addVmss(vmssId("busy"));
    arm.throttleNext(vmssId("busy"), 17, 1);
    const err = await errorOf(
      client.virtualMachineScaleSets.update(RG, "busy", {
        identity: { type: "UserAssigned", userAssignedIdentities: add(identityId("a")) },
      }),
    );
    expect(err.statusCode).toBe(429);
    expect(err.response?.headers.get("retry-after")).toBe("17");
    const ok = await client.virtualMachineScaleSets.update(
      RG,
      "busy",
      { identity: { type: "UserAssigned", userAssignedIdentities: add(identityId("a")) } },
      { updateIntervalInMs: 10 },
    );
    expect(ok.identity?.type).toBe("UserAssigned");
  });

  test("a per-resource write rate limit turns extra PATCHes into 429 + Retry-After", async () => {
    const limited = await startArmEmulator();
    try {
      limited.addUserAssignedIdentity(identityId("a"));
      limited.addUserAssignedIdentity(identityId("b"));
      limited.addVmss(vmssId("p"));
      limited.addVmss(vmssId("q"));
      limited.setWriteRateLimit(1);
      const c = computeClient(limited.url);
      await c.virtualMachineScaleSets.update(
        RG,
        "p",
        { identity: { type: "UserAssigned", userAssignedIdentities: add(identityId("a")) } },
        { updateIntervalInMs: 10 },
      );
      const err = await errorOf(
        c.virtualMachineScaleSets.update(RG, "p", {
          identity: { type: "UserAssigned", userAssignedIdentities: add(identityId("b")) },
        }),
      );
      expect(err.statusCode).toBe(429);
      expect(Number(err.response?.headers.get("retry-after"))).toBeGreaterThan(0);
      // Another scale set has its own budget.
      const other = await c.virtualMachineScaleSets.update(
        RG,
        "q",
        { identity: { type: "UserAssigned", userAssignedIdentities: add(identityId("b")) } },
        { updateIntervalInMs: 10 },
      );
      expect(other.identity?.type).toBe("UserAssigned");
    } finally {
      await limited.stop();
    }
  });

  test("requests without a bearer token or api-version are refused as ARM does", async () => {
    const path = `${arm.url}${vmssId("pool1")}`;
    const noAuth = await fetch(`${path}?api-version=2026-04-01`);
    expect(noAuth.status).toBe(401);
    expect(((await noAuth.json()) as { error: { code: string } }).error.code).toBe("AuthenticationFailed");
    const noVersion = await fetch(path, { headers: { authorization: "Bearer x" } });
    expect(noVersion.status).toBe(400);
    expect(((await noVersion.json()) as { error: { code: string } }).error.code).toBe("MissingApiVersionParameter");
  });

  test("serves https with a given certificate and can require tokens signed by a given issuer", async () => {
    const ca = createCertificateAuthority();
    const issuer = await createTokenIssuer();
    const secure = await startArmEmulator({ tls: ca.issueServer({ ips: ["127.0.0.1"] }), verifyTokensWith: issuer });
    try {
      secure.addVm(vmId("tls"), { systemAssigned: true });
      expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const url = `${secure.url}${vmId("tls")}?api-version=2026-04-01`;
      const forged = await fetch(url, { headers: { authorization: "Bearer not-a-jwt" }, tls: { ca: ca.certPem } });
      expect(forged.status).toBe(401);
      const token = await issuer.issue({
        oid: "o",
        appid: "a",
        tid: secure.tenantId,
        aud: "https://management.azure.com/",
      });
      const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` }, tls: { ca: ca.certPem } });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { identity: { type: string } }).identity.type).toBe("SystemAssigned");
    } finally {
      await secure.stop();
    }
  });
});
