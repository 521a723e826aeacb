// Stand-in for the NMI binary: NMI's own token server (createNmiApp with the real token service, cache and
// upstream budget) over in-memory pod and assignment stores instead of informers, in its own process.
// Input: the path of a JSON file (CoreServerSpec; too big for an argument); prints the port on stdout.
import { openSync, readFileSync } from "node:fs";
import * as v from "valibot";
import { getImdsToken, ImdsError } from "/work/main/src/cloud/imds-client.ts";
import { API_VERSION, type AzureIdentity } from "/work/main/src/kube/crds.ts";
import { BatchedWriter } from "/work/main/src/observability/batched-writer.ts";
import { createLogger } from "/work/main/src/observability/logger.ts";
import { standardIdentityResolver } from "/work/main/src/roles/nmi/identity-resolver.ts";
import { createImdsProxy } from "/work/main/src/roles/nmi/imds-proxy.ts";
import { InMemoryAssignments, InMemoryExceptions, InMemoryPods } from "/work/main/src/roles/nmi/in-memory-ports.ts";
import { NmiMetrics } from "/work/main/src/roles/nmi/nmi-metrics.ts";
import { type Token, type TokenUpstream, UpstreamTokenError } from "/work/main/src/roles/nmi/ports.ts";
import { createNmiApp, longestRequestWaitMs, serveNmi } from "/work/main/src/roles/nmi/server.ts";
import { TokenCache } from "/work/main/src/roles/nmi/token-cache.ts";
import { tokenRequestLineWriter } from "/work/main/src/roles/nmi/token-request-line.ts";
import { type TokenBundle, TokenService } from "/work/main/src/roles/nmi/token-service.ts";
import { UpstreamBudget } from "/work/main/src/roles/nmi/upstream-budget.ts";
import { nmiServerConfig } from "/work/main/test/support/nmi-server-config.ts";

const EXTRA = new Set((process.env.CORE_EXTRA ?? "").split(","));
const logFile = openSync(`/tmp/s9/core-log-${process.pid}.log`, "w");

const CoreServerSpecSchema = v.object({
  imdsHost: v.pipe(v.string(), v.ip(), v.startsWith("127.")),
  imdsPort: v.pipe(v.number(), v.integer()),
  pods: v.array(
    v.object({
      name: v.string(),
      namespace: v.string(),
      ip: v.string(),
      identity: v.object({ name: v.string(), clientId: v.string(), resourceId: v.string() }),
    }),
  ),
});
export type CoreServerSpec = v.InferInput<typeof CoreServerSpecSchema>;

const spec = v.parse(CoreServerSpecSchema, JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")));
const imdsBaseUrl = `http://${spec.imdsHost}:${spec.imdsPort}`;

const upstream: TokenUpstream = {
  async imds({ clientId, resource }, signal) {
    try {
      const token = await getImdsToken(
        { resource, ...(clientId ? { clientId } : {}) },
        { baseUrl: imdsBaseUrl, signal },
      );
      const token_: Token = {
        accessToken: token.access_token,
        expiresOnMs: Number(token.expires_on) * 1000,
        notBeforeMs: Number(token.not_before ?? 0) * 1000,
        resource: token.resource,
        tokenType: token.token_type,
        clientId: token.client_id ?? clientId,
      };
      return token_;
    } catch (error) {
      if (error instanceof ImdsError) {
        const retryAfter = error.retryAfterMs === undefined ? undefined : Math.ceil(error.retryAfterMs / 1000);
        throw new UpstreamTokenError(error.status || null, error.errorDescription || error.error, retryAfter);
      }
      throw error;
    }
  },
  aad: () => Promise.reject(new UpstreamTokenError(null, "the bench uses user-assigned identities only")),
};

const pods = new InMemoryPods();
const assignments = new InMemoryAssignments();
for (const pod of spec.pods) {
  pods.upsert({
    name: pod.name,
    namespace: pod.namespace,
    uid: `uid-${pod.name}`,
    ip: pod.ip,
    phase: "Running",
    labels: { aadpodidbinding: pod.identity.name },
    ownerReferences: [],
  });
  const identity: AzureIdentity = {
    apiVersion: API_VERSION,
    kind: "AzureIdentity",
    metadata: { name: pod.identity.name, namespace: pod.namespace },
    spec: {
      type: 0,
      clientID: pod.identity.clientId,
      resourceID: pod.identity.resourceId,
      tenantID: "",
      adEndpoint: "",
      adResourceID: "",
    },
  };
  assignments.upsert({
    apiVersion: API_VERSION,
    kind: "AzureAssignedIdentity",
    metadata: { name: `${pod.name}-${pod.namespace}-${pod.identity.name}`, namespace: pod.namespace },
    spec: { azureIdentityRef: identity, pod: pod.name, podNamespace: pod.namespace, nodename: "bench-node" },
    status: { status: "Assigned" },
  });
}

import {
  assignedIdentityPodIndex,
  INDEX_ASSIGNED_BY_POD,
  INDEX_POD_IP,
  podIpIndex,
} from "/work/main/src/kube/indexes.ts";
import { IndexedStore } from "/work/main/src/kube/store.ts";
import {
  InformerAssignedIdentities,
  InformerExceptions,
  InformerPodLookup,
} from "/work/main/src/roles/nmi/wiring/informer-ports.ts";

function fakeInformer(store: IndexedStore<any>) {
  const inf: any = {
    on: () => inf,
    byIndex: (n: string, v: string) => store.byIndex(n, v),
    list: (ns?: string) => (ns === undefined ? store.list() : store.listIn(ns)),
    get: (ns: string, n: string) => store.get(`${ns}/${n}`),
  };
  return inf;
}
const podStore = new IndexedStore<any>();
podStore.addIndex(INDEX_POD_IP, podIpIndex);
const aaiStore = new IndexedStore<any>();
aaiStore.addIndex(INDEX_ASSIGNED_BY_POD, assignedIdentityPodIndex);
for (const pod of spec.pods) {
  podStore.upsert({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: `uid-${pod.name}`,
      resourceVersion: "1",
      labels: { aadpodidbinding: pod.identity.name },
      ownerReferences: [],
    },
    spec: { nodeName: "bench-node" },
    status: { phase: "Running", podIP: pod.ip },
  });
  const identity = {
    apiVersion: API_VERSION,
    kind: "AzureIdentity",
    metadata: { name: pod.identity.name, namespace: pod.namespace },
    spec: {
      type: 0,
      clientID: pod.identity.clientId,
      resourceID: pod.identity.resourceId,
      tenantID: "",
      adEndpoint: "",
      adResourceID: "",
    },
  };
  aaiStore.upsert({
    apiVersion: API_VERSION,
    kind: "AzureAssignedIdentity",
    metadata: {
      name: `${pod.name}-${pod.namespace}-${pod.identity.name}`,
      namespace: pod.namespace,
      uid: `u-${pod.name}`,
      resourceVersion: "1",
    },
    spec: { azureIdentityRef: identity, pod: pod.name, podNamespace: pod.namespace, nodename: "bench-node" },
    status: { status: "Assigned" },
  });
}
const informerAssigned = new InformerAssignedIdentities(fakeInformer(aaiStore));
const useInformers = new Set((process.env.CORE_EXTRA ?? "").split(",")).has("informers");
// The binary's defaults: cache on (1 h max age, refresh 5 min before expiry), 5 concurrent / 20 per second.
const budget = new UpstreamBudget({ maxConcurrent: 5, maxPerSecond: 20 });
const app = createNmiApp({
  config: nmiServerConfig({ maxHeaderBytes: 16_384 }),
  pods: useInformers ? new InformerPodLookup(fakeInformer(podStore)) : pods,
  exceptions: useInformers ? new InformerExceptions(fakeInformer(new IndexedStore<any>())) : new InMemoryExceptions(),
  ...(useInformers ? { assignedAtMs: (r: any) => informerAssigned.assignedAtMs(r) } : {}),
  resolveIdentity: standardIdentityResolver({
    source: useInformers ? informerAssigned : assignments,
    budget: { retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, findIdentityRetryIntervalMs: 5000 },
    forceNamespaced: false,
    holdUntilAssigned: true,
  }),
  tokens: new TokenService({
    cache: new TokenCache<TokenBundle>({ enabled: true, maxAgeMs: 3_600_000, refreshBeforeMs: 300_000 }),
    budget,
    upstream,
    propagationRetryMs: 60_000,
  }),
  proxy: createImdsProxy({ metadataIp: spec.imdsHost, metadataPort: spec.imdsPort, budget }),
  ...(EXTRA.has("metrics") ? { metrics: new NmiMetrics() } : {}),
  ...(EXTRA.has("log")
    ? {
        logTokenRequest: tokenRequestLineWriter(
          createLogger({
            format: "text",
            verbosity: 0,
            destination: new BatchedWriter(logFile),
            bindings: { component: "nmi" },
          }),
        ),
      }
    : {}),
});
// The binary's default wait budget: (16 + 4) × 5 s plus the pod lookup.
const server = serveNmi(app, { hostname: "127.0.0.1", port: 0, longestWaitMs: longestRequestWaitMs({}) });
console.log(server.port);
