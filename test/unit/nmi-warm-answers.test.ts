// A caller's warm answer is reused only while nothing it was decided from can have changed: the same
// caller and URL, the same change version, a still-fresh token. Checked on WarmAnswers itself, on the
// cache's notion of "fresh until", and through the NMI app, where a reused answer must be the very
// answer the full path gives (body, log line, metrics) and must never outlive a change.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { AzureAssignedIdentity, AzureIdentity } from "../../src/kube/crds.ts";
import type { Informer } from "../../src/kube/informer.ts";
import type { KubeObjectLike } from "../../src/kube/store.ts";
import { type FoundIdentity, standardIdentityResolver } from "../../src/roles/nmi/identity-resolver.ts";
import { InMemoryAssignments, InMemoryExceptions, InMemoryPods } from "../../src/roles/nmi/in-memory-ports.ts";
import { NmiMetrics } from "../../src/roles/nmi/nmi-metrics.ts";
import type { PodInfo } from "../../src/roles/nmi/ports.ts";
import { RequestTargets } from "../../src/roles/nmi/request-target.ts";
import { createNmiApp, type TokenRequestLog } from "../../src/roles/nmi/server.ts";
import { TokenCache } from "../../src/roles/nmi/token-cache.ts";
import { type TokenBundle, TokenService } from "../../src/roles/nmi/token-service.ts";
import { UpstreamBudget } from "../../src/roles/nmi/upstream-budget.ts";
import { WarmAnswers } from "../../src/roles/nmi/warm-answers.ts";
import { ChangeCounter } from "../../src/roles/nmi/wiring/change-counter.ts";
import { nmiServerConfig } from "../support/nmi-server-config.ts";

const CLIENT = "aaaaaaaa-1111-2222-3333-444444444444";
const RESOURCE = "https://vault.azure.net";
const TOKEN_URL = `http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(RESOURCE)}`;

const identity: AzureIdentity = {
  apiVersion: "aadpodidentity.k8s.io/v1",
  kind: "AzureIdentity",
  metadata: { name: "id", namespace: "ns" },
  spec: { type: 0, clientID: CLIENT, resourceID: "/x/id", tenantID: "t", adEndpoint: "", adResourceID: "" },
};

function record(podName: string, resourceVersion = "1"): AzureAssignedIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureAssignedIdentity",
    metadata: { name: `${podName}-ns-id`, namespace: "ns", resourceVersion },
    spec: { azureIdentityRef: identity, pod: podName, podNamespace: "ns", nodename: "n" },
    status: { status: "Assigned" },
  };
}

function pod(name: string, ip: string, extra: Partial<PodInfo> = {}): PodInfo {
  return { name, namespace: "ns", uid: `uid-${name}`, ip, phase: "Running", labels: {}, ownerReferences: [], ...extra };
}

describe("WarmAnswers", () => {
  const targets = new RequestTargets({ blockInstanceMetadata: false });
  const target = targets.of(TOKEN_URL);
  const resolution = { kind: "found", identity, record: record("p"), waitedMs: 0 } as FoundIdentity;
  const answer = (version: number, freshUntilMs: number) => ({
    target,
    version,
    pod: "p",
    namespace: "ns",
    resolution,
    result: { tokens: [], source: "cache" as const, freshUntilMs },
  });

  test("an answer stands for its caller and URL, under its version, until its token stops being fresh", () => {
    let version = 7;
    const warm = new WarmAnswers(() => version);
    warm.remember("10.0.0.1", answer(7, 1_000));
    expect(warm.find("10.0.0.1", target, 999)).toBeDefined();
    expect(warm.find("10.0.0.1", target, 1_000)).toBeUndefined();
    expect(warm.find("10.0.0.2", target, 0)).toBeUndefined();
    expect(warm.find("10.0.0.1", targets.of(`${TOKEN_URL}&client_id=${CLIENT}`), 0)).toBeUndefined();
    version = 8;
    expect(warm.find("10.0.0.1", target, 0)).toBeUndefined();
  });
});

describe("TokenCache.freshUntilMs", () => {
  test("property: an entry is fresh exactly while the clock is before its freshUntilMs", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          lifetimeMs: fc.integer({ min: 1, max: 7_200_000 }),
          maxAgeMs: fc.integer({ min: 1, max: 7_200_000 }),
          refreshBeforeMs: fc.integer({ min: 0, max: 600_000 }),
          minRemainingMs: fc.integer({ min: 0, max: 60_000 }),
          laterMs: fc.integer({ min: 0, max: 7_300_000 }),
        }),
        async ({ lifetimeMs, maxAgeMs, refreshBeforeMs, minRemainingMs, laterMs }) => {
          let now = 1_000_000;
          const cache = new TokenCache<{ expiresOnMs: number }>({
            enabled: true,
            maxAgeMs,
            refreshBeforeMs,
            minRemainingMs,
            now: () => now,
          });
          await cache.get("k", [], async () => ({ expiresOnMs: now + lifetimeMs }));
          const until = cache.freshUntilMs("k");
          now += laterMs;
          const fresh = cache.fresh("k") !== undefined;
          if (until === undefined) expect(fresh).toBe(false);
          else expect(fresh).toBe(now < until);
        },
      ),
    );
  });
});

/** The NMI app over in-memory ports and the real token service and cache; the change version by hand. */
function world() {
  let nowMs = Date.UTC(2026, 11, 1, 12, 0, 0);
  let version = 1;
  const pods = new InMemoryPods();
  const assignments = new InMemoryAssignments();
  const exceptions = new InMemoryExceptions();
  const counts = { byIp: 0, resolve: 0, upstream: 0 };
  const byIp = pods.byIp.bind(pods);
  pods.byIp = (ip) => {
    counts.byIp++;
    return byIp(ip);
  };
  const resolver = standardIdentityResolver({
    source: assignments,
    budget: { retryAttemptsForCreated: 1, retryAttemptsForAssigned: 1, findIdentityRetryIntervalMs: 50 },
    forceNamespaced: false,
    holdUntilAssigned: true,
  });
  const lines: TokenRequestLog[] = [];
  const metrics = new NmiMetrics();
  const cache = new TokenCache<TokenBundle>({
    enabled: true,
    maxAgeMs: 3_600_000,
    refreshBeforeMs: 300_000,
    now: () => nowMs,
  });
  const app = createNmiApp({
    config: nmiServerConfig({ maxHeaderBytes: 4096 }),
    pods,
    exceptions,
    resolveIdentity: (...args) => {
      counts.resolve++;
      return resolver(...args);
    },
    tokens: new TokenService({
      cache,
      budget: new UpstreamBudget({ maxConcurrent: 5, maxPerSecond: 1000 }),
      upstream: {
        imds: async ({ clientId, resource }) => {
          counts.upstream++;
          return {
            accessToken: `token-${counts.upstream}`,
            expiresOnMs: nowMs + 3_600_000,
            notBeforeMs: nowMs,
            resource,
            tokenType: "Bearer",
            clientId,
          };
        },
        aad: async () => [],
      },
      propagationRetryMs: 0,
      now: () => nowMs,
    }),
    proxy: { forward: async () => new Response("unused", { status: 599 }) },
    metrics,
    logTokenRequest: (line) => lines.push({ ...line }),
    changeVersion: () => version,
    // The server's clock and the cache's are the same clock, as in the binary (both Date.now there).
    clock: {
      now: () => nowMs,
      setTimer: (fn, ms) => {
        const timer = setTimeout(fn, ms);
        return () => clearTimeout(timer);
      },
    },
  });
  const from = (ip: string) => ({ requestIP: () => ({ address: ip, family: "IPv4", port: 40_000 }) });
  const ask = async (ip: string, url = TOKEN_URL) => {
    const response = await app.fetch(new Request(url, { headers: { Metadata: "true" } }), from(ip));
    return { status: response.status, body: await response.text() };
  };
  /** A pod with its identity Assigned, asked twice: its token fetched, then a cache hit remembered. */
  const warmUp = async (name: string, ip: string) => {
    pods.upsert(pod(name, ip));
    assignments.upsert(record(name));
    await ask(ip);
    await ask(ip);
  };
  return {
    pods,
    assignments,
    exceptions,
    counts,
    lines,
    metrics,
    ask,
    warmUp,
    change: () => version++,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

describe("NMI reusing a caller's warm answer", () => {
  test("the second warm request is answered without deciding again, with the same body, line and metrics", async () => {
    const w = world();
    w.pods.upsert(pod("p", "10.1.0.5"));
    w.assignments.upsert(record("p"));
    const fetched = await w.ask("10.1.0.5"); // miss: fetched upstream
    const first = await w.ask("10.1.0.5"); // hit, decided in full: remembered
    const decided = { ...w.counts };
    const second = await w.ask("10.1.0.5"); // reused
    expect([fetched.status, first.status, second.status]).toEqual([200, 200, 200]);
    expect(w.counts).toEqual(decided);
    expect(second.body).toBe(first.body);
    const [, hit, reused] = w.lines;
    expect({ ...reused, durationMs: 0 }).toEqual({ ...hit, durationMs: 0 } as TokenRequestLog);
    expect(reused).toMatchObject({ pod: "p", namespace: "ns", cache: "hit", status: 200 });
    const text = await w.metrics.registry.metrics();
    expect(text).toContain('aadpodidentity_nmi_token_cache_requests_total{result="hit"} 2');
    expect(text).toContain('aadpodidentity_nmi_requests_total{route="token",status_code="200"} 3');
    expect(text).toContain('aadpodidentity_nmi_assignment_wait_seconds_count{outcome="found"} 3');
  });

  test("any change ends the reuse: the next request decides again and sees the change", async () => {
    const w = world();
    await w.warmUp("p", "10.1.0.6");
    // The assignment goes away; an informer event moves the version.
    w.assignments.remove("ns", "p-ns-id");
    w.change();
    const before = w.counts.resolve;
    const after = await w.ask("10.1.0.6", TOKEN_URL);
    expect(w.counts.resolve).toBeGreaterThan(before);
    expect(after.status).not.toBe(200);
  });

  test("an IP taken over by another pod is decided again once the pods informer reports it", async () => {
    const w = world();
    await w.warmUp("old", "10.1.0.7");
    w.pods.remove("ns", "old");
    w.pods.upsert(pod("new", "10.1.0.7"));
    w.change();
    const after = await w.ask("10.1.0.7");
    // "new" has no identity: never the old pod's token.
    expect(after.status).not.toBe(200);
    expect(w.lines.at(-1)?.pod).toBe("new");
  });

  test("a token due for refresh is not reused: the full path serves it and refreshes it", async () => {
    const w = world();
    await w.warmUp("p", "10.1.0.8");
    const decided = w.counts.resolve;
    w.advance(3_600_000 - 299_000); // within refreshBefore of the token's expiry
    await w.ask("10.1.0.8");
    expect(w.counts.resolve).toBe(decided + 1);
  });

  test("another URL from the same caller is decided on its own", async () => {
    const w = world();
    await w.warmUp("p", "10.1.0.9");
    const decided = w.counts.resolve;
    const other = `${TOKEN_URL}&client_id=${CLIENT}`;
    await w.ask("10.1.0.9", other);
    expect(w.counts.resolve).toBe(decided + 1);
  });

  test("an excepted pod's answer is never remembered", async () => {
    const w = world();
    w.pods.upsert(pod("ex", "10.1.0.10", { labels: { app: "agent" } }));
    w.exceptions.items.push({
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzurePodIdentityException",
      metadata: { name: "agents", namespace: "ns" },
      spec: { podLabels: { app: "agent" } },
    });
    await w.ask("10.1.0.10");
    await w.ask("10.1.0.10");
    const lookups = w.counts.byIp;
    await w.ask("10.1.0.10");
    expect(w.counts.byIp).toBe(lookups + 1);
    expect(w.lines.at(-1)?.excepted).toBe(true);
  });
});

describe("ChangeCounter (the wiring's change version)", () => {
  test("every add, update and delete an informer delivers moves the version", () => {
    const handlers = new Map<string, (() => void)[]>();
    const informer = {
      on(event: string, handler: () => void) {
        handlers.set(event, [...(handlers.get(event) ?? []), handler]);
        return informer;
      },
    };
    const changes = new ChangeCounter();
    changes.countEventsOf(informer as unknown as Informer<KubeObjectLike>);
    const seen = [changes.version];
    for (const event of ["add", "update", "delete"]) {
      for (const handler of handlers.get(event) ?? []) handler();
      seen.push(changes.version);
    }
    changes.bump();
    seen.push(changes.version);
    expect(new Set(seen).size).toBe(5);
  });
});
