// The NMI token server over real HTTP: Bun.serve on 127.0.0.1:0, callers distinguished by source
// address with `curl --interface 127.0.0.N`, fake ports for pods, assignments, tokens and IMDS.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import type { AzureAssignedIdentity, AzureIdentity } from "../../src/kube/crds.ts";
import { standardIdentityResolver } from "../../src/roles/nmi/identity-resolver.ts";
import { InMemoryAssignments, InMemoryExceptions, InMemoryPods } from "../../src/roles/nmi/in-memory-ports.ts";
import { NmiMetrics } from "../../src/roles/nmi/nmi-metrics.ts";
import { type PodInfo, type Token, UpstreamTokenError } from "../../src/roles/nmi/ports.ts";
import {
  createNmiApp,
  type RunningServer,
  remoteAddressOf,
  serveNmi,
  type TokenRequestLog,
} from "../../src/roles/nmi/server.ts";
import type { TokenContext, TokenProvider } from "../../src/roles/nmi/token-service.ts";
import { manualWaitClock } from "../support/manual-wait-clock.ts";
import { nmiServerConfig } from "../support/nmi-server-config.ts";

const CLIENT_A = "aaaaaaaa-1111-2222-3333-444444444444";
const CLIENT_B = "bbbbbbbb-1111-2222-3333-444444444444";

function identity(name: string, clientID: string, type: 0 | 1 = 0): AzureIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentity",
    metadata: { name, namespace: "ns" },
    spec: {
      type,
      clientID,
      resourceID: `/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
      tenantID: "t",
      adEndpoint: "",
      adResourceID: "",
    },
  };
}

function assignment(
  podName: string,
  id: AzureIdentity,
  status: "Created" | "Assigned" | "Unassigned",
): AzureAssignedIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureAssignedIdentity",
    metadata: { name: `${podName}-ns-${id.metadata.name}`, namespace: "ns" },
    spec: { azureIdentityRef: id, pod: podName, podNamespace: "ns", nodename: "node1" },
    status: { status },
  };
}

function pod(name: string, ip: string, extra: Partial<PodInfo> = {}): PodInfo {
  return { name, namespace: "ns", uid: `uid-${name}`, ip, phase: "Running", labels: {}, ownerReferences: [], ...extra };
}

function token(clientId: string, resource: string): Token {
  const now = Date.now();
  return {
    accessToken: `tok-${clientId}-${resource}`,
    expiresOnMs: now + 3_600_000,
    notBeforeMs: now,
    resource,
    tokenType: "Bearer",
    clientId,
  };
}

class FakeTokens implements TokenProvider {
  calls: { kind: string; clientId: string; resource: string; context: TokenContext; resourceId?: string }[] = [];
  failWith: Error | null = null;
  tenants = 1;
  async forIdentity(id: AzureIdentity, resource: string, context: TokenContext) {
    this.calls.push({ kind: "identity", clientId: id.spec.clientID, resource, context });
    if (this.failWith) throw this.failWith;
    const tokens = Array.from({ length: this.tenants }, () => token(id.spec.clientID, resource));
    return { tokens, source: "upstream" as const };
  }
  async forExceptedPod(clientId: string, resource: string, context: TokenContext, resourceId?: string) {
    this.calls.push({ kind: "excepted", clientId, resource, context, resourceId });
    return { tokens: [token(clientId || "system", resource)], source: "cache" as const };
  }
}

const pods = new InMemoryPods();
const assignments = new InMemoryAssignments();
const exceptions = new InMemoryExceptions();
const tokens = new FakeTokens();
const proxied: { path: string; headers: Record<string, string> }[] = [];
const proxyCallers: (string | undefined)[] = [];
const logs: TokenRequestLog[] = [];
const metrics = new NmiMetrics();
let server: RunningServer;
let retryAfterServer: RunningServer;
let imds: ReturnType<typeof Bun.serve>;

function makeServer(setRetryAfterHeader: boolean, maxHeaderBytes = 4096) {
  const app = createNmiApp({
    config: nmiServerConfig({ blockInstanceMetadata: true, setRetryAfterHeader, maxHeaderBytes, podLookupWaitMs: 200 }),
    pods,
    exceptions,
    resolveIdentity: standardIdentityResolver({
      source: assignments,
      // 3 + 2 intervals of 200 ms: a give-up after 0.6 s (none) or 1 s (Created).
      budget: { retryAttemptsForCreated: 3, retryAttemptsForAssigned: 2, findIdentityRetryIntervalMs: 200 },
      forceNamespaced: false,
      holdUntilAssigned: !setRetryAfterHeader,
    }),
    tokens,
    proxy: {
      async forward(request, callerKey) {
        proxyCallers.push(callerKey);
        const url = new URL(request.url);
        return fetch(`http://127.0.0.1:${imds.port}${url.pathname}${url.search}`, { headers: request.headers });
      },
    },
    metrics,
    logTokenRequest: (line) => logs.push(line),
  });
  return serveNmi(app, { hostname: "127.0.0.1", port: 0, longestWaitMs: 10_000 });
}

beforeAll(() => {
  imds = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const url = new URL(request.url);
      proxied.push({ path: url.pathname + url.search, headers: Object.fromEntries(request.headers) });
      if (url.pathname === "/doesnotexist") return new Response("404 Not Found", { status: 404 });
      return Response.json({ compute: { name: "vm" } });
    },
  });
  server = makeServer(false);
  retryAfterServer = makeServer(true);
});

afterAll(async () => {
  await server.stop();
  await retryAfterServer.stop();
  imds.stop(true);
});

beforeEach(() => {
  tokens.calls = [];
  tokens.failWith = null;
  tokens.tenants = 1;
  logs.length = 0;
  proxied.length = 0;
  proxyCallers.length = 0;
});

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request from source address `from` (127.0.0.N), through curl so the source can be chosen. */
async function curl(
  from: string,
  path: string,
  options: { headers?: string[]; target?: RunningServer; maxTime?: number } = {},
): Promise<CurlResult> {
  const target = options.target ?? server;
  const args = ["curl", "-s", "-i", "--path-as-is", "--interface", from, "--max-time", String(options.maxTime ?? 15)];
  for (const header of options.headers ?? ["Metadata: true"]) args.push("-H", header);
  args.push(`http://127.0.0.1:${target.port}${path}`);
  const child = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const raw = await new Response(child.stdout).text();
  await child.exited;
  const split = raw.indexOf("\r\n\r\n");
  const head = split >= 0 ? raw.slice(0, split) : raw;
  const body = split >= 0 ? raw.slice(split + 4) : "";
  const [statusLine, ...headerLines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine?.split(" ")[1] ?? 0), headers, body };
}

const TOKEN = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net";
const A = identity("a", CLIENT_A);
const B = identity("b", CLIENT_B);

describe("request validation", () => {
  test("a token request without 'Metadata: true' gets the original's 400 JSON", async () => {
    const response = await curl("127.0.0.2", TOKEN, { headers: [] });
    expect(response.status).toBe(400);
    expect(response.headers["content-type"]).toContain("application/json");
    expect(JSON.parse(response.body)).toEqual({
      error: "invalid_request",
      error_description: "Required metadata header not specified",
    });
  });

  test("an empty resource is a 400 with the original's text", async () => {
    const response = await curl("127.0.0.2", "/metadata/identity/oauth2/token?api-version=2018-02-01");
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error_description).toBe("parameter resource cannot be empty");
  });

  test("object_id is refused with a clear 400 rather than silently ignored", async () => {
    const response = await curl("127.0.0.2", `${TOKEN}&object_id=00000000-0000-0000-0000-000000000001`);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error_description).toContain("object_id is not supported");
  });

  test("mangled token paths are refused (anti-bypass) and never reach IMDS", async () => {
    const response = await curl("127.0.0.2", "/metadata/identity%5Coauth2%5Ctoken?resource=x");
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error_description).toBe("Invalid request");
    expect(proxied).toEqual([]);
  });

  test("an oversized header block is a 400, not a 500", async () => {
    const response = await curl("127.0.0.2", TOKEN, { headers: ["Metadata: true", `X-Big: ${"x".repeat(5000)}`] });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error).toBe("invalid_request");
  });

  test("with --max-header-bytes at the runtime's limit (the default, 16 KiB), a bigger block gets the runtime's 431 and reaches no handler", async () => {
    const atLimit = makeServer(false, 16_384);
    try {
      const response = await curl("127.0.0.2", TOKEN, {
        headers: ["Metadata: true", `X-Big: ${"x".repeat(20_000)}`],
        target: atLimit,
      });
      expect(response.status).toBe(431);
      expect(logs).toEqual([]);
      expect(tokens.calls).toEqual([]);
      const fits = await curl("127.0.0.2", TOKEN, {
        headers: ["Metadata: true", `X-Big: ${"x".repeat(5000)}`],
        target: atLimit,
      });
      expect(fits.status).not.toBe(431);
      expect(fits.status).not.toBe(400);
    } finally {
      await atLimit.stop();
    }
  });

  test("a malformed escape in the path is a 400", async () => {
    const response = await curl("127.0.0.2", "/metadata/%E0%A4%A");
    expect(response.status).toBe(400);
  });
});

describe("pod token endpoint", () => {
  test("an unknown source IP gets the original's 500 'pod list is empty'", async () => {
    const response = await curl("127.0.0.3", TOKEN);
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body).error_description).toBe("pod list is empty");
  });

  test("two live pods with the caller's IP is a 500 naming them", async () => {
    pods.upsert(pod("dup1", "127.0.0.4"));
    pods.upsert(pod("dup2", "127.0.0.4", { phase: "Pending" }));
    const response = await curl("127.0.0.4", TOKEN);
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body).error_description).toContain("failed to match pod IP 127.0.0.4");
    pods.remove("ns", "dup2");
  });

  test("an IP reused by a new pod serves the new pod, not the finished one", async () => {
    pods.upsert(pod("old", "127.0.0.5", { phase: "Succeeded" }));
    assignments.upsert(assignment("old", A, "Assigned"));
    pods.upsert(pod("new", "127.0.0.5"));
    assignments.upsert(assignment("new", B, "Assigned"));
    const response = await curl("127.0.0.5", TOKEN);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).client_id).toBe(CLIENT_B);
  });

  test("a bound pod gets an IMDS-shaped token with client_id, fetched with its identity", async () => {
    pods.upsert(pod("p6", "127.0.0.6"));
    assignments.upsert(assignment("p6", A, "Assigned"));
    const response = await curl("127.0.0.6", TOKEN);
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(Number(response.headers["content-length"])).toBe(Buffer.byteLength(response.body));
    const body = JSON.parse(response.body);
    expect(body.client_id).toBe(CLIENT_A);
    expect(body.resource).toBe("https://vault.azure.net");
    expect(body.token_type).toBe("Bearer");
    for (const field of ["expires_in", "expires_on", "not_before", "ext_expires_in"]) {
      expect(typeof body[field]).toBe("string");
    }
    expect(tokens.calls[0]).toMatchObject({
      kind: "identity",
      clientId: CLIENT_A,
      resource: "https://vault.azure.net",
    });
    expect(tokens.calls[0]!.context.callerKey).toBe("127.0.0.6");
    const tags = tokens.calls[0]!.context.tags;
    expect(typeof tags === "function" ? tags() : tags).toContain("identity:ns/a");
  });

  test("the trailing-slash form @azure/identity sends is the token route", async () => {
    const response = await curl("127.0.0.6", TOKEN.replace("token?", "token/?"));
    expect(response.status).toBe(200);
  });

  test("client_id is matched case-insensitively", async () => {
    pods.upsert(pod("p7", "127.0.0.7"));
    assignments.upsert(assignment("p7", A, "Assigned"));
    assignments.upsert(assignment("p7", B, "Assigned"));
    const response = await curl("127.0.0.7", `${TOKEN}&client_id=${CLIENT_B.toUpperCase()}`);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).client_id).toBe(CLIENT_B);
  });

  test("a request held for its assignment returns as soon as the assignment becomes Assigned", async () => {
    pods.upsert(pod("p8", "127.0.0.8"));
    assignments.upsert(assignment("p8", A, "Created"));
    const pending = curl("127.0.0.8", TOKEN);
    await Bun.sleep(100);
    expect(tokens.calls).toEqual([]);
    assignments.upsert(assignment("p8", A, "Assigned"));
    const response = await pending;
    expect(response.status).toBe(200);
    expect(logs.at(-1)).toMatchObject({ pod: "p8", namespace: "ns", status: 200, route: "token" });
  });

  test("with no assignment the request gives up after the budget with the original's 404 text", async () => {
    pods.upsert(pod("p9", "127.0.0.9"));
    const response = await curl("127.0.0.9", TOKEN);
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body).error_description).toContain(
      "getting assigned identities for pod ns/p9 in CREATED state failed after 3 attempts",
    );
  });

  test("--set-retry-after-header answers 503 + Retry-After: 20 at once instead of holding", async () => {
    pods.upsert(pod("p10", "127.0.0.10"));
    assignments.upsert(assignment("p10", A, "Created"));
    const response = await curl("127.0.0.10", TOKEN, { target: retryAfterServer });
    expect(response.status).toBe(503);
    expect(response.headers["retry-after"]).toBe("20");
  });

  test("a client that disconnects ends its wait", async () => {
    pods.upsert(pod("p11", "127.0.0.11"));
    await curl("127.0.0.11", TOKEN, { maxTime: 0.2 });
    await Bun.sleep(150);
    const after = await metrics.registry.getSingleMetricAsString("aadpodidentity_nmi_assignment_wait_seconds");
    expect(after).toContain('outcome="aborted"');
  });

  test("an upstream non-200 (e.g. IMDS 'Identity not found') is a 403 with its description", async () => {
    tokens.failWith = new UpstreamTokenError(400, "Identity not found");
    const response = await curl("127.0.0.6", TOKEN);
    expect(response.status).toBe(403);
    expect(JSON.parse(response.body).error_description).toBe("Identity not found");
  });

  test("an unreachable upstream is a 503", async () => {
    tokens.failWith = new UpstreamTokenError(null, "connect ECONNREFUSED");
    expect((await curl("127.0.0.6", TOKEN)).status).toBe(503);
  });

  test("a multi-tenant service principal is answered as a JSON array, primary first", async () => {
    tokens.tenants = 3;
    const response = await curl("127.0.0.6", TOKEN);
    const body = JSON.parse(response.body);
    expect(Array.isArray(body)).toBe(true);
    expect(body).toHaveLength(3);
  });

  test("an excepted pod gets the node identity it asks for, skipping assignments", async () => {
    pods.upsert(pod("ex", "127.0.0.12", { labels: { app: "Custom" } }));
    exceptions.items.push({
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzurePodIdentityException",
      metadata: { name: "e", namespace: "ns" },
      spec: { podLabels: { app: "custom" } },
    });
    const response = await curl("127.0.0.12", `${TOKEN}&client_id=${CLIENT_B}`);
    expect(response.status).toBe(200);
    expect(tokens.calls).toMatchObject([{ kind: "excepted", clientId: CLIENT_B }]);
    expect(logs.at(-1)).toMatchObject({ excepted: true, cache: "hit" });
  });

  test("an excepted pod asking by msi_res_id (or mi_res_id) gets that identity, not the default one", async () => {
    // The exception of the previous test covers this pod too (same namespace, label app=custom).
    const byMsi = await curl("127.0.0.12", `${TOKEN}&msi_res_id=${encodeURIComponent(B.spec.resourceID)}`);
    expect(byMsi.status).toBe(200);
    const byMi = await curl("127.0.0.12", `${TOKEN}&mi_res_id=${encodeURIComponent(B.spec.resourceID)}`);
    expect(byMi.status).toBe(200);
    expect(tokens.calls).toMatchObject([
      { kind: "excepted", clientId: "", resourceId: B.spec.resourceID },
      { kind: "excepted", clientId: "", resourceId: B.spec.resourceID },
    ]);
  });

  test("the token log line redacts the client id", async () => {
    await curl("127.0.0.6", TOKEN);
    expect(logs.at(-1)!.identity).toBe("aaaa##### REDACTED #####4444");
  });
});

describe("records NMI must refuse at once", () => {
  test("an identity without a client ID is a 404 saying so, never the node's default identity", async () => {
    const blank = identity("blank", "");
    pods.upsert(pod("p13", "127.0.0.13"));
    assignments.upsert(assignment("p13", blank, "Assigned"));
    const response = await curl("127.0.0.13", TOKEN);
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body).error_description).toContain("has no spec.clientID");
    expect(tokens.calls).toEqual([]);
  });

  test("Unassigned only: 404 at once, not after the assignment budget", async () => {
    pods.upsert(pod("p14", "127.0.0.14"));
    assignments.upsert(assignment("p14", A, "Unassigned"));
    const started = performance.now();
    const response = await curl("127.0.0.14", TOKEN);
    // The budget here is 0.6 s before giving up on a record that never appears.
    expect(performance.now() - started).toBeLessThan(400);
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body).error_description).toContain("Unassigned");
    expect(tokens.calls).toEqual([]);
  });

  test("Unassigned A + Assigned B: B; asking for A by client_id: 404 at once", async () => {
    pods.upsert(pod("p15", "127.0.0.15"));
    assignments.upsert(assignment("p15", A, "Unassigned"));
    assignments.upsert(assignment("p15", B, "Assigned"));
    const response = await curl("127.0.0.15", TOKEN);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).client_id).toBe(CLIENT_B);
    const started = performance.now();
    const refused = await curl("127.0.0.15", `${TOKEN}&client_id=${CLIENT_A}`);
    expect(performance.now() - started).toBeLessThan(400);
    expect(refused.status).toBe(404);
  });

  test("--set-retry-after-header: 503 + Retry-After for an Unassigned one only while another record is Created", async () => {
    pods.upsert(pod("p16", "127.0.0.16"));
    assignments.upsert(assignment("p16", A, "Unassigned"));
    const alone = await curl("127.0.0.16", `${TOKEN}&client_id=${CLIENT_A}`, { target: retryAfterServer });
    expect(alone.status).toBe(404);
    expect(alone.headers["retry-after"]).toBeUndefined();
    assignments.upsert(assignment("p16", B, "Created"));
    const pending = await curl("127.0.0.16", `${TOKEN}&client_id=${CLIENT_A}`, { target: retryAfterServer });
    expect(pending.status).toBe(503);
    expect(pending.headers["retry-after"]).toBe("20");
  });
});

describe("host token endpoint", () => {
  test("podns/podname headers are required", async () => {
    const response = await curl("127.0.0.1", "/host/token?resource=x", { headers: [] });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error_description).toBe("missing 'podname' and 'podns' from request header");
  });

  test("only 127.0.0.1 may call it", async () => {
    const response = await curl("127.0.0.2", "/host/token?resource=x", { headers: ["podns: ns", "podname: p6"] });
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body).error_description).toBe("request remote address is not from a host");
  });

  test("refused callers' podns headers create no metric series (bounded labels)", async () => {
    const series = async () =>
      (await metrics.registry.getSingleMetricAsString("aadpodidentity_nmi_operations_duration_seconds"))
        .split("\n")
        .filter((line) => line.includes('operation_type="/host/token"') && line.includes("_count"));
    const before = await series();
    for (let i = 0; i < 20; i++) {
      const response = await curl("127.0.0.2", "/host/token?resource=x", {
        headers: [`podns: spam-${i}`, "podname: p"],
      });
      expect(response.status).toBe(500);
    }
    const after = await series();
    expect(after.filter((line) => line.includes("spam-"))).toEqual([]);
    expect(after.length - before.length).toBeLessThanOrEqual(1);
    expect(after.some((line) => line.includes('namespace=""') && line.includes('status_code="500"'))).toBe(true);
  });

  test("a pod NMI knows labels the series with its namespace", async () => {
    const response = await curl("127.0.0.1", "/host/token?resource=x", { headers: ["podns: ns", "podname: p6"] });
    expect(response.status).toBe(200);
    const text = await metrics.registry.getSingleMetricAsString("aadpodidentity_nmi_operations_duration_seconds");
    expect(text).toContain('operation_type="/host/token",status_code="200",namespace="ns"');
  });

  test("a loopback caller gets {token, clientid} for the named pod", async () => {
    const response = await curl("127.0.0.1", "/host/token?resource=x", { headers: ["podns: ns", "podname: p6"] });
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body);
    expect(body.clientid).toBe(CLIENT_A);
    expect(body.token.resource).toBe("x");
  });
});

describe("other routes", () => {
  test("/metadata/instance is blocked with 403 when configured, without reaching IMDS", async () => {
    const response = await curl("127.0.0.2", "/metadata/instance?api-version=2021-02-01");
    expect(response.status).toBe(403);
    expect(JSON.parse(response.body).error_description).toBe("Request blocked by AAD Pod Identity NMI");
    expect(proxied).toEqual([]);
  });

  test("other paths are proxied to IMDS with their query", async () => {
    const response = await curl("127.0.0.2", "/metadata/scheduledevents?api-version=2020-07-01");
    expect(response.status).toBe(200);
    expect(proxied[0]!.path).toBe("/metadata/scheduledevents?api-version=2020-07-01");
  });

  test("IMDS's own 404 comes back for unknown paths", async () => {
    const response = await curl("127.0.0.2", "/doesnotexist");
    expect(response.status).toBe(404);
    expect(response.body).toBe("404 Not Found");
  });

  test("proxied calls are keyed by the caller's IP in the upstream budget (fairness)", async () => {
    await curl("127.0.0.2", "/metadata/scheduledevents?api-version=2020-07-01");
    await curl("127.0.0.3", "/metadata/versions");
    expect(proxyCallers).toEqual(["127.0.0.2", "127.0.0.3"]);
  });

  test("the proxy also requires the Metadata header", async () => {
    const response = await curl("127.0.0.2", "/metadata/scheduledevents", { headers: [] });
    expect(response.status).toBe(400);
    expect(proxied).toEqual([]);
  });

  test("requests are counted by route and status", async () => {
    const text = await metrics.registry.getSingleMetricAsString("aadpodidentity_nmi_requests_total");
    expect(text).toContain('route="token",status_code="200"');
    expect(text).toContain('route="blocked",status_code="403"');
  });
});

describe("IP reuse while the old pod terminates (manual clock, app.fetch with a fixed source address)", () => {
  const LOOKUP_WAIT_MS = 1200;
  const IP = "10.9.0.7";

  /** An app whose only time is the manual clock: a wait ends only when the test advances it. */
  function reuseWorld() {
    const manual = manualWaitClock();
    const podStore = new InMemoryPods();
    const records = new InMemoryAssignments();
    const fakeTokens = new FakeTokens();
    const app = createNmiApp({
      config: nmiServerConfig({ maxHeaderBytes: 4096, podLookupWaitMs: LOOKUP_WAIT_MS }),
      pods: podStore,
      exceptions: new InMemoryExceptions(),
      resolveIdentity: standardIdentityResolver({
        source: records,
        budget: { retryAttemptsForCreated: 1, retryAttemptsForAssigned: 1, findIdentityRetryIntervalMs: 1000 },
        forceNamespaced: false,
        holdUntilAssigned: true,
        clock: manual.clock,
      }),
      tokens: fakeTokens,
      proxy: { forward: async () => new Response("unused", { status: 599 }) },
      clock: manual.clock,
    });
    const env = { requestIP: () => ({ address: IP, family: "IPv4", port: 40_000 }) };
    let settled = false;
    const ask = () => {
      settled = false;
      const pending = Promise.resolve(
        app.fetch(new Request(`http://169.254.169.254${TOKEN}`, { headers: { Metadata: "true" } }), env),
      );
      void pending.then(() => {
        settled = true;
      });
      return pending;
    };
    return { ...manual, podStore, records, fakeTokens, ask, settled: () => settled };
  }

  /** Lets the request reach its wait (or finish) without moving the manual clock. */
  const settle = () => Bun.sleep(20);

  test("every token answer has headers of its own: changing one answer's leaves the next one's as sent", async () => {
    const w = reuseWorld();
    w.podStore.upsert(pod("p", IP));
    w.records.upsert(assignment("p", A, "Assigned"));
    const first = await w.ask();
    first.headers.set("Content-Type", "text/plain");
    first.headers.set("X-Changed", "yes");
    const second = await w.ask();
    expect(second.status).toBe(200);
    expect(second.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(second.headers.has("x-changed")).toBe(false);
  });

  test("only a terminating pod holds the IP and a new pod appears during the wait: the new pod's identity", async () => {
    const w = reuseWorld();
    w.podStore.upsert(pod("old", IP, { terminating: true }));
    w.records.upsert(assignment("old", A, "Assigned"));
    w.records.upsert(assignment("new", B, "Assigned"));
    const pending = w.ask();
    await settle();
    expect(w.settled()).toBe(false);
    expect(w.pendingTimers()).toBe(1);
    w.advance(LOOKUP_WAIT_MS / 2);
    await settle();
    expect(w.settled()).toBe(false);
    // The new pod's podIP reaches the informer: the waiting request is answered as the new pod, at once.
    w.podStore.upsert(pod("new", IP));
    const response = await pending;
    expect(response.status).toBe(200);
    expect((await response.json()).client_id).toBe(CLIENT_B);
    expect(w.fakeTokens.calls.map((call) => call.clientId)).toEqual([CLIENT_B]);
    expect(w.podStore.listenerCount).toBe(0);
    expect(w.pendingTimers()).toBe(0);
  });

  test("only a terminating pod holds the IP and nothing appears: the terminating pod, after the whole wait", async () => {
    const w = reuseWorld();
    w.podStore.upsert(pod("old", IP, { terminating: true }));
    w.records.upsert(assignment("old", A, "Assigned"));
    const pending = w.ask();
    await settle();
    w.advance(LOOKUP_WAIT_MS - 1);
    await settle();
    expect(w.settled()).toBe(false);
    expect(w.fakeTokens.calls).toEqual([]);
    w.advance(1);
    const response = await pending;
    expect(response.status).toBe(200);
    expect((await response.json()).client_id).toBe(CLIENT_A);
    expect(w.podStore.listenerCount).toBe(0);
  });

  test("several terminating pods and nothing new: still ambiguous (500 naming them) after the wait", async () => {
    const w = reuseWorld();
    w.podStore.upsert(pod("old1", IP, { terminating: true }));
    w.podStore.upsert(pod("old2", IP, { terminating: true }));
    const pending = w.ask();
    await settle();
    expect(w.settled()).toBe(false);
    w.advance(LOOKUP_WAIT_MS);
    const response = await pending;
    expect(response.status).toBe(500);
    expect((await response.json()).error_description).toContain(`failed to match pod IP ${IP}`);
  });

  test("a non-terminating pod holds the IP (alone, or beside a terminating one): answered with no wait", async () => {
    const w = reuseWorld();
    w.podStore.upsert(pod("live", IP));
    w.records.upsert(assignment("live", A, "Assigned"));
    // The clock never moves: a request that waited would never be answered.
    const alone = await Promise.race([w.ask(), Bun.sleep(2000).then(() => "still waiting" as const)]);
    expect(alone).not.toBe("still waiting");
    expect((alone as Response).status).toBe(200);
    expect(await (alone as Response).json()).toMatchObject({ client_id: CLIENT_A });

    w.podStore.upsert(pod("old", IP, { terminating: true }));
    w.records.upsert(assignment("old", B, "Assigned"));
    const beside = await Promise.race([w.ask(), Bun.sleep(2000).then(() => "still waiting" as const)]);
    expect(beside).not.toBe("still waiting");
    expect(await (beside as Response).json()).toMatchObject({ client_id: CLIENT_A });
    expect(w.pendingTimers()).toBe(0);
    expect(w.podStore.listenerCount).toBe(0);
  });
});

describe("an unexpected failure inside the app", () => {
  test("is a 500 in IMDS's JSON shape, logged with the path, never a thrown request", async () => {
    const logged: { error: unknown; context: object }[] = [];
    const broken = new InMemoryPods();
    broken.byIp = () => {
      throw new Error("informer store corrupted");
    };
    const app = createNmiApp({
      config: nmiServerConfig({ maxHeaderBytes: 4096 }),
      pods: broken,
      exceptions: new InMemoryExceptions(),
      resolveIdentity: standardIdentityResolver({
        source: new InMemoryAssignments(),
        budget: { retryAttemptsForCreated: 1, retryAttemptsForAssigned: 1, findIdentityRetryIntervalMs: 10 },
        forceNamespaced: false,
        holdUntilAssigned: true,
      }),
      tokens: new FakeTokens(),
      proxy: { forward: async () => new Response("unused", { status: 599 }) },
      logError: (error, context) => logged.push({ error, context }),
    });
    const server = { requestIP: () => ({ address: "10.1.2.3", family: "IPv4", port: 40_000 }) };
    const response = await app.fetch(
      new Request(`http://169.254.169.254${TOKEN}`, { headers: { Metadata: "true" } }),
      server,
    );
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await response.json()).toEqual({ error: "internal_error", error_description: "internal error" });
    expect(logged).toEqual([
      { error: new Error("informer store corrupted"), context: { path: "/metadata/identity/oauth2/token" } },
    ]);
  });
});

describe("remoteAddressOf (the caller's address, from the Bun server)", () => {
  const request = new Request("http://169.254.169.254/");
  test("an IPv4-mapped IPv6 address is the pod IP the informer knows", () => {
    expect(remoteAddressOf({ requestIP: () => ({ address: "::ffff:10.244.1.7" }) }, request)).toBe("10.244.1.7");
    expect(remoteAddressOf({ requestIP: () => ({ address: "10.244.1.7" }) }, request)).toBe("10.244.1.7");
  });

  test("no server, no address, or a server that throws: empty (the token route answers 500, never a token)", () => {
    expect(remoteAddressOf(undefined, request)).toBe("");
    expect(remoteAddressOf({}, request)).toBe("");
    expect(remoteAddressOf({ requestIP: () => null }, request)).toBe("");
    expect(
      remoteAddressOf(
        {
          requestIP: () => {
            throw new Error("closed");
          },
        },
        request,
      ),
    ).toBe("");
  });
});
