// The AAD emulator driven by the real msal-node ConfidentialClientApplication: client credentials
// with a secret and with a certificate (client_assertion), AAD's errors for a wrong secret, an
// unknown app and an unknown tenant, the v1 resource= endpoint, trust via NODE_EXTRA_CA_CERTS
// in a subprocess as well as via an in-process networkClient, and runtime fault injection.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfidentialClientApplication } from "@azure/msal-node";
import { type AadEmulator, networkClientTrusting, startAadEmulator } from "../../emulators/aad/index.ts";
import { createTokenIssuer, decodeClaims, type TokenIssuer } from "../../emulators/common/jwt.ts";
import { createCertificateAuthority } from "../../emulators/common/pki.ts";

const TENANT = "aaaaaaaa-1111-2222-3333-bbbbbbbbbbbb";
const SECRET_APP = "5ec7e7a0-0000-0000-0000-000000000001";
const CERT_APP = "ce47a990-0000-0000-0000-000000000002";
const ARM_SCOPE = "https://management.azure.com/.default";

let aad: AadEmulator;
let issuer: TokenIssuer;
const clientCert = createCertificateAuthority("client cert CA").issueClient("pod-identity-sp");
const pkcs8Key = createPrivateKey(clientCert.keyPem).export({ type: "pkcs8", format: "pem" }).toString();
const sha256Thumbprint = createHash("sha256").update(new X509Certificate(clientCert.certPem).raw).digest("hex");

function app(
  clientId: string,
  cred: { clientSecret?: string; clientCertificate?: { thumbprintSha256: string; privateKey: string } },
  tenant = TENANT,
) {
  return new ConfidentialClientApplication({
    auth: {
      clientId,
      authority: `${aad.authorityHost}/${tenant}`,
      knownAuthorities: [aad.knownAuthority],
      ...cred,
    },
    system: { networkClient: networkClientTrusting(aad.caPem) },
  });
}

async function failure(p: Promise<unknown>): Promise<{ errorCode?: string; errorMessage?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as never;
  }
  throw new Error("expected the token request to fail");
}

beforeAll(async () => {
  issuer = await createTokenIssuer();
  aad = await startAadEmulator({ issuer });
  aad.addApp(TENANT, SECRET_APP, { secret: "s3cret" });
  aad.addApp(TENANT, CERT_APP, { certificatePem: clientCert.certPem });
});
afterAll(() => aad.stop());

describe("AAD emulator with msal-node", () => {
  test("client credentials with a secret: a signed token naming the app, then served from msal's cache", async () => {
    const cca = app(SECRET_APP, { clientSecret: "s3cret" });
    const first = await cca.acquireTokenByClientCredential({ scopes: [ARM_SCOPE] });
    expect(first?.accessToken).toBeTruthy();
    const claims = await issuer.verify(first?.accessToken ?? "");
    expect(claims).toMatchObject({
      appid: SECRET_APP,
      tid: TENANT,
      aud: "https://management.azure.com",
      oid: aad.servicePrincipalObjectId(TENANT, SECRET_APP),
    });
    const second = await cca.acquireTokenByClientCredential({ scopes: [ARM_SCOPE] });
    expect(second?.fromCache).toBe(true);
    expect(aad.requests().some((r) => r.clientId === SECRET_APP && r.credential === "secret" && r.status === 200)).toBe(
      true,
    );
  });

  test("client credentials with a certificate: the assertion is verified against the registered certificate", async () => {
    const cca = app(CERT_APP, { clientCertificate: { thumbprintSha256: sha256Thumbprint, privateKey: pkcs8Key } });
    const result = await cca.acquireTokenByClientCredential({ scopes: ["https://vault.azure.net/.default"] });
    expect(decodeClaims(result?.accessToken ?? "")).toMatchObject({ appid: CERT_APP, aud: "https://vault.azure.net" });
    expect(
      aad.requests().some((r) => r.clientId === CERT_APP && r.credential === "assertion" && r.status === 200),
    ).toBe(true);
  });

  test("a certificate not registered on the app is refused with AADSTS700027", async () => {
    const other = createCertificateAuthority("other").issueClient("intruder");
    const otherKey = createPrivateKey(other.keyPem).export({ type: "pkcs8", format: "pem" }).toString();
    const otherThumb = createHash("sha256").update(new X509Certificate(other.certPem).raw).digest("hex");
    const err = await failure(
      app(CERT_APP, {
        clientCertificate: { thumbprintSha256: otherThumb, privateKey: otherKey },
      }).acquireTokenByClientCredential({ scopes: [ARM_SCOPE] }),
    );
    expect(err.errorCode).toBe("invalid_client");
    expect(err.errorMessage ?? err.message).toContain("AADSTS700027");
  });

  test("a wrong secret fails cleanly with invalid_client and AADSTS7000215", async () => {
    const err = await failure(
      app(SECRET_APP, { clientSecret: "wrong" }).acquireTokenByClientCredential({ scopes: [ARM_SCOPE] }),
    );
    expect(err.errorCode).toBe("invalid_client");
    expect(err.errorMessage ?? err.message).toContain("AADSTS7000215: Invalid client secret provided.");
  });

  test("an unknown app gets AADSTS700016; an unknown tenant AADSTS90002 in AAD's error shape", async () => {
    const unknownApp = await failure(
      app("00000000-0000-0000-0000-00000000dead", { clientSecret: "x" }).acquireTokenByClientCredential({
        scopes: [ARM_SCOPE],
      }),
    );
    expect(unknownApp.errorCode).toBe("unauthorized_client");
    expect(unknownApp.errorMessage ?? unknownApp.message).toContain("AADSTS700016");

    const res = await fetch(`${aad.authorityHost}/not-a-tenant/oauth2/v2.0/token`, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: SECRET_APP,
        client_secret: "s3cret",
        scope: ARM_SCOPE,
      }),
      tls: { ca: aad.caPem },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.error).toBe("invalid_request");
    expect(body.error_codes).toEqual([90002]);
    expect(String(body.error_description)).toMatch(/^AADSTS90002: Tenant 'not-a-tenant' not found\./);
    expect(Object.keys(body).sort()).toEqual([
      "correlation_id",
      "error",
      "error_codes",
      "error_description",
      "error_uri",
      "timestamp",
      "trace_id",
    ]);
  });

  test("the v1 endpoint takes resource= and answers with string numbers", async () => {
    const res = await fetch(`${aad.authorityHost}/${TENANT}/oauth2/token`, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: SECRET_APP,
        client_secret: "s3cret",
        resource: "https://management.azure.com/",
      }),
      tls: { ca: aad.caPem },
    });
    const body = (await res.json()) as Record<string, string>;
    expect(res.status).toBe(200);
    expect(body.resource).toBe("https://management.azure.com/");
    expect(typeof body.expires_on).toBe("string");
    expect(decodeClaims(body.access_token ?? "").aud).toBe("https://management.azure.com/");
  });

  test("stock msal-node trusts the emulator when the process starts with NODE_EXTRA_CA_CERTS", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aad-"));
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, aad.caPem);
    const script = `
      const { ConfidentialClientApplication } = await import("@azure/msal-node");
      const cca = new ConfidentialClientApplication({ auth: {
        clientId: process.env.APP, clientSecret: "s3cret",
        authority: process.env.AUTHORITY, knownAuthorities: [process.env.KNOWN] } });
      const r = await cca.acquireTokenByClientCredential({ scopes: ["https://management.azure.com/.default"] });
      console.log(r.accessToken);`;
    const proc = Bun.spawn([process.execPath, "--eval", script], {
      cwd: join(import.meta.dir, "../.."),
      env: {
        PATH: process.env.PATH ?? "",
        NODE_EXTRA_CA_CERTS: caFile,
        APP: SECRET_APP,
        AUTHORITY: `${aad.authorityHost}/${TENANT}`,
        KNOWN: aad.knownAuthority,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = (await new Response(proc.stdout).text()).trim();
    expect(await proc.exited).toBe(0);
    expect(decodeClaims(out.split("\n").at(-1) ?? "").appid).toBe(SECRET_APP);
  });
});

/** A raw v2 client-credentials request for SECRET_APP with the right secret. */
function tokenRequest(tenant = TENANT, clientId = SECRET_APP) {
  return fetch(`${aad.authorityHost}/${tenant}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: "s3cret",
      scope: ARM_SCOPE,
    }),
    tls: { ca: aad.caPem },
  });
}

describe("AAD emulator fault injection", () => {
  test("failNext('invalid_client') refuses the right secret with AADSTS7000215 once, then msal gets its token", async () => {
    aad.failNext("invalid_client", { clientId: SECRET_APP });
    const err = await failure(
      app(SECRET_APP, { clientSecret: "s3cret" }).acquireTokenByClientCredential({ scopes: [ARM_SCOPE] }),
    );
    expect(err.errorCode).toBe("invalid_client");
    expect(err.errorMessage ?? err.message).toContain("AADSTS7000215: Invalid client secret provided.");
    const ok = await app(SECRET_APP, { clientSecret: "s3cret" }).acquireTokenByClientCredential({
      scopes: [ARM_SCOPE],
    });
    expect(decodeClaims(ok?.accessToken ?? "").appid).toBe(SECRET_APP);
  });

  test("server_error (500, AADSTS90041) and temporarily_unavailable (503, AADSTS90033) in AAD's error shape, `times` in a row", async () => {
    aad.failNext("server_error", { times: 2 });
    aad.failNext("temporarily_unavailable", { retryAfterSeconds: 5 });
    const answers = [];
    for (let i = 0; i < 4; i++) {
      const res = await tokenRequest();
      answers.push({ status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() });
    }
    expect(answers.map((a) => a.status)).toEqual([500, 500, 503, 200]);
    expect(answers[0]?.body).toMatchObject({ error: "server_error", error_codes: [90041] });
    expect(String(answers[1]?.body.error_description)).toMatch(/^AADSTS90041: A transient error has occurred\./);
    expect(answers[2]?.body).toMatchObject({ error: "temporarily_unavailable", error_codes: [90033] });
    expect(answers.map((a) => a.retryAfter)).toEqual([null, null, "5", null]);
  });

  test("throttled: 429 with Retry-After (60 s unless given) and AAD's plain-text body, then answers again", async () => {
    aad.failNext("throttled");
    aad.failNext("throttled", { retryAfterSeconds: 3 });
    const first = await tokenRequest();
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("60");
    expect(await first.text()).toBe("Too Many Requests");
    const second = await tokenRequest();
    expect([second.status, second.headers.get("retry-after")]).toEqual([429, "3"]);
    expect((await tokenRequest()).status).toBe(200);
    expect(aad.requests().filter((r) => r.error === "throttled")).toHaveLength(2);
  });

  test("faults can target one tenant or app, take any AadError, and never touch discovery; clearFaults drops them", async () => {
    aad.failNext("server_error", { tenant: "other-tenant" });
    aad.failNext(
      { status: 400, error: "invalid_request", code: 90014, message: "The request body must contain 'x'." },
      { clientId: CERT_APP },
    );
    const discovery = await fetch(`${aad.authorityHost}/${TENANT}/v2.0/.well-known/openid-configuration`, {
      tls: { ca: aad.caPem },
    });
    expect(discovery.status).toBe(200);
    expect((await tokenRequest()).status).toBe(200);
    const custom = await tokenRequest(TENANT, CERT_APP);
    expect(custom.status).toBe(400);
    expect(await custom.json()).toMatchObject({ error: "invalid_request", error_codes: [90014] });
    aad.clearFaults();
    expect(() => aad.failNext("throttled", { times: 0 })).toThrow("positive integer");
  });

  test("setLatency delays every answer", async () => {
    aad.setLatency(150);
    try {
      const started = performance.now();
      expect((await tokenRequest()).status).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    } finally {
      aad.setLatency(0);
    }
  });
});
