// Managed mode's 403 for an identity IMDS does not know on the node: the pod is told to assign it to
// the scale set; every other failure, and every success, passes through unchanged.
import { describe, expect, test } from "bun:test";
import type { AzureIdentity } from "../../src/kube/crds.ts";
import { isNotAssigned, notAssignedHint, withAssignHint } from "../../src/roles/managed/vmss-hint.ts";
import { type Token, UpstreamTokenError } from "../../src/roles/nmi/ports.ts";
import type { TokenProvider, TokenResult } from "../../src/roles/nmi/token-service.ts";

const CLIENT = "aaaaaaaa-1111-4222-8333-444444444444";
const RESOURCE_ID =
  "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-identity";

function identity(type: 0 | 1 | 2 = 0, resourceID = type === 0 ? RESOURCE_ID : ""): AzureIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentity",
    metadata: { name: "app", namespace: "ns" },
    spec: { type, clientID: CLIENT, resourceID, tenantID: "t", adEndpoint: "", adResourceID: "" },
  };
}

const token: Token = {
  accessToken: "tok",
  expiresOnMs: Date.now() + 3_600_000,
  notBeforeMs: Date.now(),
  resource: "r",
  tokenType: "Bearer",
  clientId: CLIENT,
};

function failingWith(error: unknown): TokenProvider & { excepted: string[] } {
  const excepted: string[] = [];
  return {
    excepted,
    forIdentity: async () => {
      throw error;
    },
    async forExceptedPod(clientId): Promise<TokenResult> {
      excepted.push(clientId);
      return { tokens: [token], source: "upstream" };
    },
  };
}

const context = { callerKey: "10.0.0.5", tags: [] };

async function failureOf(answer: unknown): Promise<unknown> {
  try {
    await answer;
  } catch (error) {
    return error;
  }
  throw new Error("expected a failure");
}

describe("managed mode: identity not on the VM / scale set", () => {
  test("IMDS 400 Identity not found becomes an upstream error whose text says to assign it to the scale set", async () => {
    const provider = withAssignHint(failingWith(new UpstreamTokenError(400, "Identity not found")));
    const error = await failureOf(provider.forIdentity(identity(), "r", context));
    expect(error).toBeInstanceOf(UpstreamTokenError);
    const upstream = error as UpstreamTokenError;
    // Still an upstream answer (non-null status), which the server turns into 403 as the original did.
    expect(upstream.status).toBe(400);
    expect(upstream.description).toContain("az vmss identity assign");
    expect(upstream.description).toContain("scale set");
    expect(upstream.description).toContain(`--identities ${RESOURCE_ID}`);
    expect(upstream.description).toContain("IMDS: Identity not found");
    expect(upstream.description).not.toContain(CLIENT);
    expect(upstream.description).toContain("aaaa##### REDACTED #####4444");
  });

  test("without a resource ID on the identity the command shows a placeholder", () => {
    expect(notAssignedHint(identity(0, ""), "Identity not found")).toContain("--identities <identity resource ID>");
  });

  test("other IMDS errors pass through unchanged", async () => {
    for (const original of [
      new UpstreamTokenError(400, "Multiple user assigned identities exist, please specify"),
      new UpstreamTokenError(429, "Too many requests"),
      new UpstreamTokenError(null, "connection refused"),
      new Error("secret unreadable"),
    ]) {
      const error = await failureOf(withAssignHint(failingWith(original)).forIdentity(identity(), "r", context));
      expect(error).toBe(original);
    }
  });

  test("service-principal identities (types 1 and 2) never get the scale-set hint", async () => {
    for (const type of [1, 2] as const) {
      const original = new UpstreamTokenError(400, "identity not found");
      expect(isNotAssigned(identity(type), original)).toBe(false);
      const error = await failureOf(withAssignHint(failingWith(original)).forIdentity(identity(type), "r", context));
      expect(error).toBe(original);
    }
  });

  test("successful tokens and excepted pods go to the inner provider unchanged", async () => {
    const inner = failingWith(new Error("unused"));
    const provider = withAssignHint({
      ...inner,
      forIdentity: async () => ({ tokens: [token], source: "cache" }),
    });
    expect(await provider.forIdentity(identity(), "r", context)).toEqual({ tokens: [token], source: "cache" });
    const excepted = await withAssignHint(inner).forExceptedPod("", "r", context);
    expect(excepted.tokens).toEqual([token]);
    expect(inner.excepted).toEqual([""]);
  });
});

describe("managed mode: a cached token", () => {
  test("is answered as it came, synchronously (no promise on the warm path)", () => {
    const cached = { tokens: [], source: "cache" as const };
    const inner = { forIdentity: () => cached, forExceptedPod: () => cached };
    expect(withAssignHint(inner).forIdentity(identity(), "r", context)).toBe(cached);
  });
});
