// NMI's token sources over src/cloud, and the statuses their failures become at the token server:
// a service principal whose Secret is missing or unusable (unreadable, no usable key, a PKCS#12 that
// does not decode) is a 503 as in the original (§5.3 step 8), an AAD refusal a 403, both IMDS-shaped JSON.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AadClient, AadError } from "../../src/cloud/aad-client.ts";
import type { AzureIdentity } from "../../src/kube/crds.ts";
import type { IdentityResolver } from "../../src/roles/nmi/identity-resolver.ts";
import { InMemoryExceptions, InMemoryPods } from "../../src/roles/nmi/in-memory-ports.ts";
import { UpstreamTokenError } from "../../src/roles/nmi/ports.ts";
import { createNmiApp, type RunningServer, serveNmi } from "../../src/roles/nmi/server.ts";
import { TokenCache } from "../../src/roles/nmi/token-cache.ts";
import { type TokenBundle, TokenService } from "../../src/roles/nmi/token-service.ts";
import { UpstreamBudget } from "../../src/roles/nmi/upstream-budget.ts";
import { SecretCredentialError, type SecretData } from "../../src/roles/nmi/wiring/secret-credential.ts";
import { createTokenUpstream } from "../../src/roles/nmi/wiring/token-upstream.ts";
import { nmiServerConfig } from "../support/nmi-server-config.ts";

const RESOURCE = "https://vault.azure.net";
const b64 = (text: string) => Buffer.from(text).toString("base64");

function servicePrincipal(name: string, type: 1 | 2): AzureIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentity",
    metadata: { name, namespace: "ns" },
    spec: {
      type,
      clientID: `client-${name}`,
      resourceID: "",
      tenantID: "tenant",
      adEndpoint: "",
      adResourceID: "",
      clientPassword: { name: `${name}-secret`, namespace: "ns" },
    },
  };
}

const secrets = new Map<string, SecretData>([
  ["ns/good-secret", { clientSecret: b64("s3cret") }],
  ["ns/several-secret", { a: b64("1"), b: b64("2") }],
  ["ns/badpfx-secret", { certificate: b64("this is not a PKCS#12 file"), password: b64("pw") }],
  ["ns/refused-secret", { clientSecret: b64("wrong") }],
]);
const readSecret = async (namespace: string, name: string) => {
  const data = secrets.get(`${namespace}/${name}`);
  if (!data) throw new Error(`secret ${namespace}/${name} not found`);
  return data;
};
const aad: AadClient = {
  async getTokens(request) {
    if (request.credential.kind === "secret" && request.credential.secret === "wrong") {
      throw new AadError("invalid_client: AADSTS7000215: Invalid client secret provided.", { code: "invalid_client" });
    }
    const now = Math.floor(Date.now() / 1000);
    return [
      {
        access_token: "aad-token",
        expires_in: "3599",
        expires_on: String(now + 3599),
        not_before: String(now),
        resource: request.resource,
        token_type: "Bearer",
        client_id: request.clientId,
      },
    ];
  },
};

let imds: ReturnType<typeof Bun.serve>;
const imdsQueries: URLSearchParams[] = [];
let server: RunningServer;
let chosen: AzureIdentity = servicePrincipal("good", 1);

beforeAll(() => {
  imds = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const url = new URL(request.url);
      imdsQueries.push(url.searchParams);
      const now = Math.floor(Date.now() / 1000);
      return Response.json({
        access_token: "imds-token",
        expires_in: "3599",
        expires_on: String(now + 3599),
        not_before: String(now),
        resource: url.searchParams.get("resource"),
        token_type: "Bearer",
        client_id: url.searchParams.get("client_id") ?? "from-resource-id",
      });
    },
  });
  const upstream = createTokenUpstream({ imdsBaseUrl: `http://127.0.0.1:${imds.port}`, aad, readSecret });
  const pods = new InMemoryPods();
  pods.upsert({
    name: "p",
    namespace: "ns",
    uid: "u",
    ip: "10.1.0.1",
    phase: "Running",
    labels: {},
    ownerReferences: [],
  });
  const resolveIdentity: IdentityResolver = async () => ({ kind: "found", identity: chosen, waitedMs: 0 });
  const app = createNmiApp({
    config: nmiServerConfig(),
    pods,
    exceptions: new InMemoryExceptions(),
    resolveIdentity,
    tokens: new TokenService({
      cache: new TokenCache<TokenBundle>({ enabled: false, maxAgeMs: 3_600_000, refreshBeforeMs: 300_000 }),
      budget: new UpstreamBudget({ maxConcurrent: 5, maxPerSecond: 20 }),
      upstream,
      propagationRetryMs: 0,
    }),
    proxy: { forward: () => Promise.reject(new Error("not used")) },
  });
  server = serveNmi(app, { hostname: "127.0.0.1", port: 0, longestWaitMs: 10_000 });
});

afterAll(async () => {
  await server.stop();
  imds.stop(true);
});

async function hostToken(identity: AzureIdentity) {
  chosen = identity;
  const response = await fetch(`http://127.0.0.1:${server.port}/host/token?resource=${encodeURIComponent(RESOURCE)}`, {
    headers: { podns: "ns", podname: "p" },
  });
  return { status: response.status, type: response.headers.get("content-type"), body: await response.json() };
}

describe("service-principal failures at the token server (§5.3 step 8)", () => {
  test("a working secret gets its AAD token", async () => {
    const answer = await hostToken(servicePrincipal("good", 1));
    expect(answer.status).toBe(200);
    expect(answer.body.token.access_token).toBe("aad-token");
  });

  test("a missing secret is a 503 with IMDS-shaped JSON", async () => {
    const answer = await hostToken(servicePrincipal("missing", 1));
    expect(answer.status).toBe(503);
    expect(answer.type).toContain("application/json");
    expect(answer.body.error).toBe("service_unavailable");
    expect(answer.body.error_description).toContain("ns/missing-secret");
  });

  test("a secret with no usable key is a 503 (the original answered 503, not 403)", async () => {
    const answer = await hostToken(servicePrincipal("several", 1));
    expect(answer.status).toBe(503);
    expect(answer.body.error_description).toContain("several keys");
  });

  test("a certificate that cannot be parsed is a 503", async () => {
    const answer = await hostToken(servicePrincipal("badpfx", 2));
    expect(answer.status).toBe(503);
    expect(answer.body.error).toBe("service_unavailable");
    expect(answer.body.error_description).toContain("PKCS#12");
  });

  test("AAD refusing the credential stays a 403 (the original's TokenRefreshError)", async () => {
    const answer = await hostToken(servicePrincipal("refused", 1));
    expect(answer.status).toBe(403);
    expect(answer.body.error).toBe("forbidden");
    expect(answer.body.error_description).toContain("AADSTS7000215");
  });
});

describe("createTokenUpstream", () => {
  test("secret and credential problems are SecretCredentialError, AAD refusals UpstreamTokenError", async () => {
    const upstream = createTokenUpstream({ imdsBaseUrl: "http://127.0.0.1:1", aad, readSecret });
    await expect(upstream.aad(servicePrincipal("missing", 1), RESOURCE)).rejects.toBeInstanceOf(SecretCredentialError);
    await expect(upstream.aad(servicePrincipal("badpfx", 2), RESOURCE)).rejects.toBeInstanceOf(SecretCredentialError);
    await expect(upstream.aad(servicePrincipal("refused", 1), RESOURCE)).rejects.toBeInstanceOf(UpstreamTokenError);
  });

  test("IMDS is asked by msi_res_id when no client id is given, by client_id otherwise", async () => {
    const upstream = createTokenUpstream({ imdsBaseUrl: `http://127.0.0.1:${imds.port}`, aad, readSecret });
    const resourceId =
      "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x";
    await upstream.imds({ clientId: "", resource: RESOURCE, msiResourceId: resourceId });
    expect(imdsQueries.at(-1)?.get("msi_res_id")).toBe(resourceId);
    expect(imdsQueries.at(-1)?.has("client_id")).toBe(false);
    await upstream.imds({ clientId: "cid", resource: RESOURCE });
    expect(imdsQueries.at(-1)?.get("client_id")).toBe("cid");
    expect(imdsQueries.at(-1)?.has("msi_res_id")).toBe(false);
  });
});
