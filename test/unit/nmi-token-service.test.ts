import { describe, expect, test } from "bun:test";
import type { AzureIdentity } from "../../src/kube/crds.ts";
import {
  type ImdsIdentityRequest,
  type Token,
  type TokenUpstream,
  UpstreamTokenError,
} from "../../src/roles/nmi/ports.ts";
import { TokenCache } from "../../src/roles/nmi/token-cache.ts";
import { type TokenBundle, TokenService } from "../../src/roles/nmi/token-service.ts";
import { UpstreamBudget } from "../../src/roles/nmi/upstream-budget.ts";

function identity(type: 0 | 1, clientID: string): AzureIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentity",
    metadata: { name: "id", namespace: "ns" },
    spec: { type, clientID, resourceID: "", tenantID: "tenant", adEndpoint: "", adResourceID: "" },
  };
}

function tokenFor(clientId: string, resource: string): Token {
  return {
    accessToken: `t-${clientId}`,
    expiresOnMs: Date.now() + 3_600_000,
    notBeforeMs: Date.now(),
    resource,
    tokenType: "Bearer",
    clientId,
  };
}

function setup(options: { cache?: boolean; failures?: UpstreamTokenError[]; propagationRetryMs?: number } = {}) {
  const imdsCalls: ImdsIdentityRequest[] = [];
  const aadCalls: string[] = [];
  const failures = [...(options.failures ?? [])];
  const sleeps: number[] = [];
  let now = 1_000_000;
  const upstream: TokenUpstream = {
    async imds(request) {
      imdsCalls.push(request);
      const failure = failures.shift();
      if (failure) throw failure;
      return tokenFor(request.clientId, request.resource);
    },
    async aad(id, resource) {
      aadCalls.push(resource);
      return [tokenFor(id.spec.clientID, resource), tokenFor("aux", resource)];
    },
  };
  const upstreamEvents: (number | null)[] = [];
  const service = new TokenService({
    cache: new TokenCache<TokenBundle>({
      enabled: options.cache ?? true,
      maxAgeMs: 3_600_000,
      refreshBeforeMs: 300_000,
    }),
    budget: new UpstreamBudget({ maxConcurrent: 5, maxPerSecond: 20 }),
    upstream,
    propagationRetryMs: options.propagationRetryMs ?? 60_000,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    observer: { upstreamCall: (_kind, _ms, status) => upstreamEvents.push(status) },
  });
  return { service, imdsCalls, aadCalls, sleeps, upstreamEvents, now: () => now };
}

const ctx = (extra = {}) => ({ callerKey: "10.0.0.1", tags: ["identity:ns/id"], ...extra });

describe("TokenService", () => {
  test("type 0 asks the node IMDS with the identity's client id", async () => {
    const { service, imdsCalls } = setup();
    const result = await service.forIdentity(identity(0, "cid"), "https://vault.azure.net", ctx());
    expect(imdsCalls).toEqual([{ clientId: "cid", resource: "https://vault.azure.net" }]);
    expect(result.tokens[0]!.clientId).toBe("cid");
    expect(result.source).toBe("upstream");
  });

  test("a second request for the same identity and resource is served from the cache", async () => {
    const { service, imdsCalls } = setup();
    await service.forIdentity(identity(0, "cid"), "r", ctx());
    const second = await service.forIdentity(identity(0, "CID"), "r", ctx());
    expect(second.source).toBe("cache");
    expect(imdsCalls).toHaveLength(1);
  });

  test("a cached token is answered synchronously (no promise), for pods, service principals and excepted pods", async () => {
    const { service } = setup();
    await service.forIdentity(identity(0, "cid"), "r", ctx());
    await service.forIdentity(identity(1, "sp"), "r", ctx());
    await service.forExceptedPod("cid", "r", ctx({ tags: [] }));
    for (const answer of [
      service.forIdentity(identity(0, "cid"), "r", ctx()),
      service.forIdentity(identity(1, "sp"), "r", ctx()),
      service.forExceptedPod("cid", "r", ctx({ tags: [] })),
    ]) {
      expect(answer).not.toBeInstanceOf(Promise);
      expect((answer as { source: string }).source).toBe("cache");
    }
  });

  test("with the cache off every request goes upstream", async () => {
    const { service, imdsCalls } = setup({ cache: false });
    await service.forIdentity(identity(0, "cid"), "r", ctx());
    await service.forIdentity(identity(0, "cid"), "r", ctx());
    expect(imdsCalls).toHaveLength(2);
  });

  test("service principals go to AAD and keep every tenant's token", async () => {
    const { service, aadCalls, imdsCalls } = setup();
    const result = await service.forIdentity(identity(1, "sp"), "r", ctx());
    expect(aadCalls).toEqual(["r"]);
    expect(imdsCalls).toEqual([]);
    expect(result.tokens.map((t) => t.clientId)).toEqual(["sp", "aux"]);
  });

  test("excepted pods get the requested (or system-assigned) node identity", async () => {
    const { service, imdsCalls } = setup();
    await service.forExceptedPod("", "r", ctx({ tags: [] }));
    expect(imdsCalls).toEqual([{ clientId: "", resource: "r" }]);
  });

  test("excepted pods asking by msi_res_id get that identity from IMDS, cached apart from the default one", async () => {
    const { service, imdsCalls } = setup();
    const resourceId =
      "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x";
    await service.forExceptedPod("", "r", ctx({ tags: [] }), resourceId);
    const system = await service.forExceptedPod("", "r", ctx({ tags: [] }));
    expect(system.source).toBe("upstream");
    expect(imdsCalls).toEqual([
      { clientId: "", resource: "r", msiResourceId: resourceId },
      { clientId: "", resource: "r" },
    ]);
    // client_id wins when both are given (IMDS takes one selector).
    await service.forExceptedPod("cid", "r", ctx({ tags: [] }), resourceId);
    expect(imdsCalls.at(-1)).toEqual({ clientId: "cid", resource: "r" });
  });

  test("a type 0 identity without a client ID never reaches IMDS (it would be the node's default identity)", async () => {
    const { service, imdsCalls } = setup();
    await expect(service.forIdentity(identity(0, ""), "r", ctx())).rejects.toThrow("has no clientID");
    expect(imdsCalls).toEqual([]);
  });

  test("'Identity not found' right after an assignment is retried until IMDS knows the identity", async () => {
    const notFound = () => new UpstreamTokenError(400, "Identity not found");
    const { service, imdsCalls, now } = setup({ failures: [notFound(), notFound()] });
    const result = await service.forIdentity(identity(0, "cid"), "r", ctx({ assignedAtMs: now() }));
    expect(result.tokens).toHaveLength(1);
    expect(imdsCalls).toHaveLength(3);
  });

  test("'Identity not found' long after the assignment is not retried", async () => {
    const { service, imdsCalls, now } = setup({ failures: [new UpstreamTokenError(400, "Identity not found")] });
    const call = service.forIdentity(identity(0, "cid"), "r", ctx({ assignedAtMs: now() - 120_000 }));
    await expect(call).rejects.toThrow("Identity not found");
    expect(imdsCalls).toHaveLength(1);
  });

  test("propagation retries stop at the bound", async () => {
    const failures = Array.from({ length: 50 }, () => new UpstreamTokenError(400, "Identity not found"));
    const { service, imdsCalls, now } = setup({ failures, propagationRetryMs: 10_000 });
    const start = now();
    await expect(service.forIdentity(identity(0, "cid"), "r", ctx({ assignedAtMs: start }))).rejects.toThrow();
    expect(now() - start).toBeLessThanOrEqual(10_000);
    expect(imdsCalls.length).toBeGreaterThan(1);
    expect(imdsCalls.length).toBeLessThan(50);
  });

  test("IMDS 429 is retried a bounded number of times, honouring Retry-After", async () => {
    const throttled = () => new UpstreamTokenError(429, "Too many requests", 2);
    const { service, sleeps, upstreamEvents } = setup({ failures: [throttled()] });
    await service.forIdentity(identity(0, "cid"), "r", ctx());
    expect(sleeps).toEqual([2000]);
    expect(upstreamEvents).toEqual([429, 200]);
    const always = setup({ failures: [throttled(), throttled(), throttled(), throttled()] });
    await expect(always.service.forIdentity(identity(0, "cid"), "r", ctx())).rejects.toThrow("429");
    expect(always.imdsCalls).toHaveLength(3);
  });

  test("other IMDS errors fail at once", async () => {
    const { service, imdsCalls } = setup({ failures: [new UpstreamTokenError(400, "invalid resource")] });
    await expect(service.forIdentity(identity(0, "cid"), "r", ctx())).rejects.toThrow("invalid resource");
    expect(imdsCalls).toHaveLength(1);
  });
});
