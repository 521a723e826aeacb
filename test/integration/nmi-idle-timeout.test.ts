// The NMI token server over a real Bun.serve: a request held for its assignment longer than Bun's
// default 10 s idle timeout is still answered when the budget allows it, while a keep-alive connection
// left idle after its answer is reaped once the (budget-sized) idle timeout has passed.
import { afterAll, expect, test } from "bun:test";
import { connect } from "node:net";
import type { AzureIdentity } from "../../src/kube/crds.ts";
import type { IdentityResolver } from "../../src/roles/nmi/identity-resolver.ts";
import { InMemoryExceptions, InMemoryPods } from "../../src/roles/nmi/in-memory-ports.ts";
import { createNmiApp, longestRequestWaitMs, type RunningServer, serveNmi } from "../../src/roles/nmi/server.ts";
import type { TokenProvider } from "../../src/roles/nmi/token-service.ts";
import { nmiServerConfig } from "../support/nmi-server-config.ts";

// Bun's default idle timeout (10 s, checked on a 4 s tick) cuts a request held this long.
const HOLD_MS = 15_000;
const identity: AzureIdentity = {
  apiVersion: "aadpodidentity.k8s.io/v1",
  kind: "AzureIdentity",
  metadata: { name: "a", namespace: "ns" },
  spec: { type: 0, clientID: "cid-a", resourceID: "", tenantID: "", adEndpoint: "", adResourceID: "" },
};

const pods = new InMemoryPods();
pods.upsert({
  name: "p",
  namespace: "ns",
  uid: "u",
  ip: "127.0.0.1",
  phase: "Running",
  labels: {},
  ownerReferences: [],
});
// Stands for MIC assigning the identity HOLD_MS after the request arrived.
const slowResolver: IdentityResolver = async () => {
  await Bun.sleep(HOLD_MS);
  return { kind: "found", identity, waitedMs: HOLD_MS };
};
const tokens: TokenProvider = {
  async forIdentity(id, resource) {
    const now = Date.now();
    const token = {
      accessToken: "t",
      expiresOnMs: now + 3_600_000,
      notBeforeMs: now,
      resource,
      tokenType: "Bearer",
      clientId: id.spec.clientID,
    };
    return { tokens: [token], source: "upstream" };
  },
  forExceptedPod: () => Promise.reject(new Error("not used")),
};

const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

function serve(assignmentBudgetMs: number, longestWaitMs?: number): RunningServer {
  const app = createNmiApp({
    config: nmiServerConfig({ podLookupWaitMs: 0, assignmentBudgetMs }),
    pods,
    exceptions: new InMemoryExceptions(),
    resolveIdentity: slowResolver,
    tokens,
    proxy: { forward: () => Promise.reject(new Error("not used")) },
  });
  const server = serveNmi(app, {
    hostname: "127.0.0.1",
    port: 0,
    longestWaitMs: longestWaitMs ?? longestRequestWaitMs({ assignmentBudgetMs, podLookupWaitMs: 0 }),
  });
  servers.push(server);
  return server;
}

/** Resolves with how long after its answer the server closed a keep-alive connection that then sent nothing. */
function idleConnectionLifetime(port: number, giveUpMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let started = performance.now();
    const socket = connect({ host: "127.0.0.1", port });
    // Answered at once (400: no Metadata header); the connection then stays open, idle.
    socket.on("connect", () => socket.write("GET /metadata/identity/oauth2/token HTTP/1.1\r\nHost: nmi\r\n\r\n"));
    socket.on("data", () => {
      started = performance.now();
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`idle connection still open after ${giveUpMs} ms`));
    }, giveUpMs);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
    socket.on("error", () => {});
  });
}

test("a request held 15 s for its assignment is answered (not cut at Bun's 10 s default); idle connections are still reaped", async () => {
  // Budget 20 s: idle timeout 20 + 15 s margin = 35 s, which lets the 15 s hold through.
  const held = serve(20_000);
  // No wait at all: idle timeout = the 15 s margin.
  const quick = serve(0, 0);
  const url = `http://127.0.0.1:${held.port}/metadata/identity/oauth2/token?resource=https%3A%2F%2Fvault.azure.net`;
  const started = performance.now();
  const [response, idleMs] = await Promise.all([
    fetch(url, { headers: { Metadata: "true" } }),
    idleConnectionLifetime(quick.port, 25_000),
  ]);
  expect(response.status).toBe(200);
  expect((await response.json()).client_id).toBe("cid-a");
  expect(performance.now() - started).toBeGreaterThanOrEqual(HOLD_MS - 50);
  expect(idleMs).toBeGreaterThan(14_000);
  expect(idleMs).toBeLessThan(22_000);
}, 30_000);
