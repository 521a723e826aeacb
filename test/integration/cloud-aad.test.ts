// Service-principal tokens through msal-node (aad-client.ts) and ARM's ClientSecretCredential
// (credentials.ts) against the https AAD emulator, whose CA is trusted by option only.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import forge from "node-forge";
import { type AadEmulator, startAadEmulator } from "../../emulators/aad/index.ts";
import { startArmEmulator } from "../../emulators/arm/index.ts";
import { createTokenIssuer, decodeClaims, type TokenIssuer } from "../../emulators/common/jwt.ts";
import { createCertificateAuthority } from "../../emulators/common/pki.ts";
import { certificateFromPem, certificateFromPfx } from "../../src/cloud/aad-certificate.ts";
import { AadError, createAadClient } from "../../src/cloud/aad-client.ts";
import { createArmIdentityClient } from "../../src/cloud/arm-identity-client.ts";
import { createArmCredential } from "../../src/cloud/credentials.ts";

const TENANT = "11111111-0000-0000-0000-000000000001";
const AUX_1 = "11111111-0000-0000-0000-000000000002";
const AUX_2 = "11111111-0000-0000-0000-000000000003";
const SECRET_APP = "22222222-0000-0000-0000-00000000000a";
const CERT_APP = "22222222-0000-0000-0000-00000000000b";
const RESOURCE = "https://vault.azure.net";

let issuer: TokenIssuer;
let aad: AadEmulator;
const appCa = createCertificateAuthority("sp certificates");
const appCert = appCa.issueClient("cert-app");

beforeAll(async () => {
  issuer = await createTokenIssuer();
  aad = await startAadEmulator({ issuer, host: "127.0.0.1", port: 0 });
  for (const tenant of [TENANT, AUX_1, AUX_2]) aad.addApp(tenant, SECRET_APP, { secret: "right-secret" });
  aad.addApp(TENANT, CERT_APP, { certificatePem: appCert.certPem });
});
afterAll(async () => {
  await aad.stop();
});

describe("AAD client (msal-node)", () => {
  test("a client secret gets an IMDS-shaped token for the resource, without instance discovery", async () => {
    const client = createAadClient({ caPem: aad.caPem });
    const [token, ...rest] = await client.getTokens({
      tenantId: TENANT,
      clientId: SECRET_APP,
      credential: { kind: "secret", secret: "right-secret" },
      resource: RESOURCE,
      adEndpoint: `${aad.authorityHost}/`,
    });
    expect(rest).toHaveLength(0);
    expect(token?.token_type).toBe("Bearer");
    expect(token?.resource).toBe(RESOURCE);
    expect(token?.client_id).toBe(SECRET_APP);
    for (const field of ["expires_in", "expires_on", "not_before"] as const) expect(token?.[field]).toMatch(/^\d+$/);
    expect(Number(token?.expires_on)).toBeGreaterThan(Date.now() / 1000);
    const claims = decodeClaims(token?.access_token ?? "");
    expect(claims.appid).toBe(SECRET_APP);
    expect(claims.tid).toBe(TENANT);
    expect(claims.aud).toBe(RESOURCE);
    // Only the emulator was asked: discovery of the tenant's metadata and the token, nothing else.
    expect(aad.requests().every((request) => request.path.startsWith(`/${TENANT}/`))).toBe(true);
  });

  test("auxiliary tenants give one token per tenant, primary first", async () => {
    const client = createAadClient({ caPem: aad.caPem });
    const tokens = await client.getTokens({
      tenantId: TENANT,
      auxiliaryTenantIds: [AUX_1, AUX_2],
      clientId: SECRET_APP,
      credential: { kind: "secret", secret: "right-secret" },
      resource: RESOURCE,
      adEndpoint: aad.authorityHost,
    });
    expect(tokens.map((token) => decodeClaims(token.access_token).tid)).toEqual([TENANT, AUX_1, AUX_2]);
  });

  test("a wrong secret is a clean AadError(invalid_client) with the AADSTS code", async () => {
    const client = createAadClient({ caPem: aad.caPem });
    const error = await client
      .getTokens({
        tenantId: TENANT,
        clientId: SECRET_APP,
        credential: { kind: "secret", secret: "wrong-secret" },
        resource: RESOURCE,
        adEndpoint: aad.authorityHost,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AadError);
    expect((error as AadError).code).toBe("invalid_client");
    expect((error as AadError).aadsts).toBe("AADSTS7000215");
  });

  test("a certificate from a PFX, and the same from PEM, get tokens (RSA client assertion)", async () => {
    const pfxAsn1 = forge.pkcs12.toPkcs12Asn1(
      forge.pki.privateKeyFromPem(appCert.keyPem),
      [forge.pki.certificateFromPem(appCert.certPem)],
      "pfx-password",
      { algorithm: "aes256" },
    );
    const pfx = new Uint8Array(Buffer.from(forge.asn1.toDer(pfxAsn1).getBytes(), "binary"));
    const client = createAadClient({ caPem: aad.caPem });
    for (const certificate of [
      certificateFromPfx(pfx, "pfx-password"),
      certificateFromPem(appCert.certPem, appCert.keyPem),
    ]) {
      const [token] = await client.getTokens({
        tenantId: TENANT,
        clientId: CERT_APP,
        credential: { kind: "certificate", certificate },
        resource: "https://storage.azure.com/",
        adEndpoint: aad.authorityHost,
      });
      expect(decodeClaims(token?.access_token ?? "").appid).toBe(CERT_APP);
    }
    expect(aad.requests().some((request) => request.clientId === CERT_APP && request.credential === "assertion")).toBe(
      true,
    );
  });

  test("without the CA the emulator's certificate is not trusted", async () => {
    const client = createAadClient();
    const error = await client
      .getTokens({
        tenantId: TENANT,
        clientId: SECRET_APP,
        credential: { kind: "secret", secret: "right-secret" },
        resource: RESOURCE,
        adEndpoint: aad.authorityHost,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AadError);
    // msal reports the failed TLS handshake while resolving the authority's endpoints.
    expect((error as AadError).message).toMatch(/certificate|self.signed|verify|endpoints_resolution/i);
  });
});

describe("AAD client under injected AAD faults", () => {
  const request = {
    tenantId: TENANT,
    clientId: SECRET_APP,
    credential: { kind: "secret" as const, secret: "right-secret" },
    resource: RESOURCE,
  };
  // A fresh client per case: msal-node remembers a 429/5xx per app and refuses that app's requests
  // itself for Retry-After (60 s without one), so a shared client would not ask AAD again.
  const attempt = () =>
    createAadClient({ caPem: aad.caPem })
      .getTokens({ ...request, adEndpoint: aad.authorityHost })
      .catch((e: unknown) => e);

  test("a transient 503 is AadError(temporarily_unavailable, AADSTS90033); AAD's 429 with a text body is AadError(http_429)", async () => {
    aad.failNext("temporarily_unavailable", { clientId: SECRET_APP });
    const unavailable = await attempt();
    expect(unavailable).toBeInstanceOf(AadError);
    expect(unavailable).toMatchObject({ code: "temporarily_unavailable", aadsts: "AADSTS90033", tenantId: TENANT });

    aad.failNext("throttled", { clientId: SECRET_APP, retryAfterSeconds: 30 });
    const throttled = await attempt();
    expect(throttled).toBeInstanceOf(AadError);
    expect((throttled as AadError).code).toBe("http_429");
    expect((throttled as AadError).message).toContain("Too Many Requests");
  });

  test("an injected invalid_client fails once with AADSTS7000215; the next request with the same secret succeeds", async () => {
    aad.failNext("invalid_client", { clientId: SECRET_APP });
    const client = createAadClient({ caPem: aad.caPem });
    const call = () => client.getTokens({ ...request, adEndpoint: aad.authorityHost });
    const error = await call().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "invalid_client", aadsts: "AADSTS7000215" });
    const [token] = await call();
    expect(decodeClaims(token?.access_token ?? "").appid).toBe(SECRET_APP);
  });
});

describe("AAD client after a failed request (msal-node's own throttling)", () => {
  const request = (adEndpoint: string) => ({
    tenantId: TENANT,
    clientId: SECRET_APP,
    credential: { kind: "secret" as const, secret: "right-secret" },
    resource: RESOURCE,
    adEndpoint,
  });

  test("after a 5xx without Retry-After the same client asks AAD again at once instead of refusing for 60 s", async () => {
    const client = createAadClient({ caPem: aad.caPem });
    aad.failNext("temporarily_unavailable", { clientId: SECRET_APP });
    const failed = await client.getTokens(request(aad.authorityHost)).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: "temporarily_unavailable" });
    const [token] = await client.getTokens(request(aad.authorityHost));
    expect(decodeClaims(token?.access_token ?? "").appid).toBe(SECRET_APP);
  });

  test("after a 429 with Retry-After the client does not ask AAD again before that time", async () => {
    const client = createAadClient({ caPem: aad.caPem });
    aad.failNext("throttled", { clientId: SECRET_APP, retryAfterSeconds: 30 });
    const throttled = await client.getTokens(request(aad.authorityHost)).catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(AadError);
    const tokenRequests = () => aad.requests().filter((r) => r.path.endsWith("/oauth2/v2.0/token")).length;
    const before = tokenRequests();
    const again = await client.getTokens(request(aad.authorityHost)).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(AadError);
    expect(tokenRequests()).toBe(before);
  });
});

describe("ARM credential for a service principal (@azure/identity)", () => {
  test("ClientSecretCredential at the emulator's authority gets a token that an ARM emulator verifying AAD's signature accepts", async () => {
    const credential = createArmCredential(
      { method: "servicePrincipal", tenantId: TENANT, clientId: SECRET_APP, clientSecret: "right-secret" },
      { authorityHost: aad.authorityHost, caPem: aad.caPem },
    );
    const token = await credential.getToken("https://management.azure.com/.default");
    const claims = decodeClaims(token?.token ?? "");
    expect(claims.appid).toBe(SECRET_APP);
    expect(String(claims.aud).replace(/\/$/, "")).toBe("https://management.azure.com");

    const arm = await startArmEmulator({ host: "127.0.0.1", port: 0, verifyTokensWith: issuer, tenantId: TENANT });
    try {
      const vmss = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool";
      const identity =
        "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app";
      arm.addVmss(vmss);
      arm.addUserAssignedIdentity(identity);
      const client = createArmIdentityClient({ credential, endpoint: arm.url, pollIntervalMs: 20 });
      await client.updateIdentities(
        { kind: "vmss", subscriptionId: "s1", resourceGroup: "rg", name: "pool" },
        { add: [identity], remove: [] },
      );
      expect(Object.keys(arm.identityOf(vmss)?.userAssignedIdentities ?? {}).map((x) => x.toLowerCase())).toEqual([
        identity.toLowerCase(),
      ]);
    } finally {
      await arm.stop();
    }
  });

  test("a wrong secret fails getToken", async () => {
    const credential = createArmCredential(
      { method: "servicePrincipal", tenantId: TENANT, clientId: SECRET_APP, clientSecret: "nope" },
      { authorityHost: aad.authorityHost, caPem: aad.caPem },
    );
    await expect(credential.getToken("https://management.azure.com/.default")).rejects.toThrow(/AADSTS7000215/);
  });
});
