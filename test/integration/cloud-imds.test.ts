// The node IMDS token client, and ARM credentials from managed identities, against the IMDS emulator
// (backed by the ARM emulator). The SDK's ManagedIdentityCredential runs in a subprocess whose
// AZURE_POD_IDENTITY_AUTHORITY_HOST points at the emulator: it must never reach 169.254.169.254.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { type ArmEmulator, decodeClaims, startArmEmulator } from "../../emulators/arm/index.ts";
import { type ImdsEmulator, startImdsEmulator } from "../../emulators/imds/index.ts";
import { createArmCredential } from "../../src/cloud/credentials.ts";
import { getImdsToken, ImdsError } from "../../src/cloud/imds-client.ts";

const SUB = "00000000-1111-2222-3333-555555555555";
const VM_ID = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/node-1`;
const BARE_VM_ID = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/node-2`;
const identityId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

let arm: ArmEmulator;
let imds: ImdsEmulator;
let bareImds: ImdsEmulator;
let one: { clientId: string; principalId: string };
let two: { clientId: string; principalId: string };

beforeAll(async () => {
  arm = await startArmEmulator({ host: "127.0.0.1", port: 0 });
  one = arm.addUserAssignedIdentity(identityId("one"));
  two = arm.addUserAssignedIdentity(identityId("two"));
  arm.addVm(VM_ID, { systemAssigned: true, userAssigned: [identityId("one"), identityId("two")] });
  arm.addVm(BARE_VM_ID, { userAssigned: [identityId("one"), identityId("two")] });
  imds = await startImdsEmulator({ arm, vmResourceId: VM_ID, host: "127.0.0.1", port: 0 });
  bareImds = await startImdsEmulator({ arm, vmResourceId: BARE_VM_ID, host: "127.0.0.1", port: 0 });
});
afterAll(async () => {
  await imds.stop();
  await bareImds.stop();
  await arm.stop();
});

/**
 * Runs createArmCredential(auth) with no IMDS endpoint (so @azure/identity's ManagedIdentityCredential)
 * in a fresh process whose AZURE_POD_IDENTITY_AUTHORITY_HOST points at the emulator, and returns its token.
 */
async function sdkCredentialToken(
  auth: { method: "systemAssignedIdentity" } | { method: "userAssignedIdentity"; clientId: string },
  target: ImdsEmulator = imds,
): Promise<{ token: string; expiresOnTimestamp: number }> {
  const credentialsModule = resolve(import.meta.dir, "../../src/cloud/credentials.ts");
  const script = `
    const host = process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST ?? "";
    if (!host.startsWith("http://127.0.0.1:")) { console.error("refusing: no local IMDS"); process.exit(3); }
    const { createArmCredential } = await import(${JSON.stringify(credentialsModule)});
    const credential = createArmCredential(JSON.parse(process.env.ARM_AUTH), {
      authorityHost: "https://login.microsoftonline.com/",
    });
    try {
      const token = await credential.getToken("https://management.azure.com/.default");
      console.log(JSON.stringify({ token: token.token, expiresOnTimestamp: token.expiresOnTimestamp }));
    } catch (e) {
      console.log(JSON.stringify({ error: e.message }));
    }
  `;
  const child = Bun.spawn([process.execPath, "-e", script], {
    cwd: resolve(import.meta.dir, "../.."),
    env: { ...process.env, AZURE_POD_IDENTITY_AUTHORITY_HOST: target.url, ARM_AUTH: JSON.stringify(auth) },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code !== 0) throw new Error(`credential subprocess exited ${code}: ${stderr}`);
  const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");
  if (result.error) throw new Error(result.error);
  return result;
}

describe("getImdsToken", () => {
  test("a token for the identity chosen by client_id, numbers as strings", async () => {
    const token = await getImdsToken(
      { resource: "https://vault.azure.net", clientId: two.clientId },
      { baseUrl: imds.url },
    );
    expect(token.client_id).toBe(two.clientId);
    expect(token.resource).toBe("https://vault.azure.net");
    expect(token.token_type).toBe("Bearer");
    expect(token.expires_on).toMatch(/^\d+$/);
    expect(token.expires_in).toMatch(/^\d+$/);
    const claims = decodeClaims(token.access_token);
    expect(claims.oid).toBe(two.principalId);
    expect(claims.aud).toBe("https://vault.azure.net");
    const sent = imds.requests().at(-1);
    expect(sent?.query.client_id).toBe(two.clientId);
    expect(sent?.query["api-version"]).toBe("2018-02-01");
  });

  test("msi_res_id and object_id are forwarded as asked", async () => {
    const byResource = await getImdsToken(
      { resource: "https://storage.azure.com/", msiResourceId: identityId("one") },
      { baseUrl: imds.url },
    );
    expect(decodeClaims(byResource.access_token).oid).toBe(one.principalId);
    expect(imds.requests().at(-1)?.query.msi_res_id).toBe(identityId("one"));
    const byObject = await getImdsToken(
      { resource: "https://storage.azure.com/", objectId: two.principalId },
      { baseUrl: imds.url },
    );
    expect(byObject.client_id).toBe(two.clientId);
  });

  test("IMDS's error JSON becomes ImdsError: unknown identity, and several identities without a choice", async () => {
    const unknown = await getImdsToken(
      { resource: "https://vault.azure.net", clientId: "99999999-0000-0000-0000-000000000000" },
      { baseUrl: imds.url },
    ).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ImdsError);
    expect((unknown as ImdsError).status).toBe(400);
    expect((unknown as ImdsError).error).toBe("invalid_request");
    expect((unknown as ImdsError).errorDescription).toBe("Identity not found");

    const ambiguous = await getImdsToken({ resource: "https://vault.azure.net" }, { baseUrl: bareImds.url }).catch(
      (e: unknown) => e,
    );
    expect(ambiguous).toBeInstanceOf(ImdsError);
    expect((ambiguous as ImdsError).status).toBe(400);
    expect((ambiguous as ImdsError).errorDescription).toContain("Multiple user assigned identities exist");
  });

  test("non-JSON errors, 429 with Retry-After, malformed tokens and unreachable hosts are typed too", async () => {
    let mode = "html";
    const fake = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => {
        if (mode === "html") return new Response("<html>Bad Gateway</html>", { status: 502 });
        if (mode === "throttle")
          return Response.json(
            { error: "too_many_requests", error_description: "Too many requests" },
            {
              status: 429,
              headers: { "Retry-After": "3" },
            },
          );
        return Response.json({
          access_token: "",
          expires_on: "1",
          expires_in: "1",
          resource: "r",
          token_type: "Bearer",
        });
      },
    });
    try {
      const baseUrl = `http://127.0.0.1:${fake.port}`;
      const html = (await getImdsToken({ resource: "r" }, { baseUrl }).catch((e) => e)) as ImdsError;
      expect(html).toBeInstanceOf(ImdsError);
      expect(html.status).toBe(502);
      expect(html.error).toBe("http_502");
      expect(html.errorDescription).toContain("Bad Gateway");

      mode = "throttle";
      const throttled = (await getImdsToken({ resource: "r" }, { baseUrl }).catch((e) => e)) as ImdsError;
      expect(throttled.status).toBe(429);
      expect(throttled.error).toBe("too_many_requests");
      expect(throttled.retryAfterMs).toBe(3000);

      mode = "bad-token";
      const malformed = (await getImdsToken({ resource: "r" }, { baseUrl }).catch((e) => e)) as ImdsError;
      expect(malformed.error).toBe("invalid_response");
    } finally {
      fake.stop(true);
    }
    const closedPort = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const deadUrl = `http://127.0.0.1:${closedPort.port}`;
    closedPort.stop(true);
    const unreachable = (await getImdsToken({ resource: "r" }, { baseUrl: deadUrl }).catch((e) => e)) as ImdsError;
    expect(unreachable).toBeInstanceOf(ImdsError);
    expect(unreachable.error).toBe("connection_failed");
  });
});

describe("managed-identity ARM credentials", () => {
  test("an explicit IMDS endpoint gives a credential over the IMDS client (system and user-assigned)", async () => {
    const system = createArmCredential(
      { method: "systemAssignedIdentity" },
      {
        authorityHost: "https://login.microsoftonline.com/",
        imdsEndpoint: imds.url,
      },
    );
    const systemToken = await system.getToken("https://management.azure.com/.default");
    const systemClaims = decodeClaims(systemToken?.token ?? "");
    expect(systemClaims.aud).toBe("https://management.azure.com");
    // A system-assigned token names the VM itself.
    expect(String(systemClaims.xms_mirid).toLowerCase()).toBe(VM_ID.toLowerCase());

    const user = createArmCredential(
      { method: "userAssignedIdentity", clientId: one.clientId },
      {
        authorityHost: "https://login.microsoftonline.com/",
        imdsEndpoint: imds.url,
      },
    );
    const userToken = await user.getToken("https://management.azure.com/.default");
    expect(decodeClaims(userToken?.token ?? "").oid).toBe(one.principalId);
    expect(userToken?.expiresOnTimestamp).toBeGreaterThan(Date.now());
  });

  test("@azure/identity's ManagedIdentityCredential (user-assigned) in a subprocess pointed at the emulator", async () => {
    const { token } = await sdkCredentialToken({ method: "userAssignedIdentity", clientId: two.clientId });
    const claims = decodeClaims(token);
    expect(claims.oid).toBe(two.principalId);
    expect(claims.aud).toBe("https://management.azure.com");
    const sent = imds
      .requests()
      .find(
        (request) =>
          request.query.client_id === two.clientId && request.query.resource === "https://management.azure.com",
      );
    expect(sent?.path).toBe("/metadata/identity/oauth2/token/");
  });

  test("system-assigned through @azure/identity (no client id) gets a token naming the VM's own identity", async () => {
    const before = imds.requests().length;
    const { token, expiresOnTimestamp } = await sdkCredentialToken({ method: "systemAssignedIdentity" });
    const system = arm.imdsView(VM_ID)?.system;
    expect(system).toBeDefined();
    const claims = decodeClaims(token);
    // The VM has two user-assigned identities too: without a client id IMDS picks the system one.
    expect(claims).toMatchObject({
      oid: system?.principalId,
      appid: system?.clientId,
      aud: "https://management.azure.com",
      tid: arm.tenantId,
    });
    expect(String(claims.xms_mirid).toLowerCase()).toBe(VM_ID.toLowerCase());
    expect(claims.oid).not.toBe(one.principalId);
    expect(expiresOnTimestamp).toBeGreaterThan(Date.now());
    const sent = imds.requests().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.query).toEqual({ "api-version": "2018-02-01", resource: "https://management.azure.com" });
  });

  test("system-assigned through @azure/identity on a VM without a system identity fails with IMDS's message", async () => {
    const result = await sdkCredentialToken({ method: "systemAssignedIdentity" }, bareImds).catch(
      (e: unknown) => e as Error,
    );
    expect(result).toBeInstanceOf(Error);
    expect((result as Error).message).toContain("Multiple user assigned identities exist");
  });
});
