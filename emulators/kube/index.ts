// A small Kubernetes API server for tests, benchmarks and the demo: real kubectl and client-node talk
// to it over http or https (client-certificate or bearer-token auth). See README.md for what it
// implements and where it knowingly differs from kube-apiserver.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { type CertificateAuthority, createCertificateAuthority, type KeyAndCert } from "../common/pki.ts";
import { Cluster, type KubeObject, type PatchType } from "./cluster.ts";
import type { ResourceType } from "./resources.ts";
import { createHandler, type ServerState } from "./server.ts";
import { ApiError, errors } from "./status.ts";

export type { KubeObject } from "./cluster.ts";
export { ApiError } from "./status.ts";

export interface KubeEmulatorOptions {
  /** Serve https with client-certificate and bearer-token auth (default false: plain http, no auth). */
  tls?: boolean;
  host?: string;
  port?: number;
  /** Watch events kept for resuming watches; older resourceVersions get 410 Gone (default 10000). */
  watchHistoryLimit?: number;
  /** How often watches with allowWatchBookmarks=true get a BOOKMARK (default 60000 ms, as the real one). */
  bookmarkIntervalMs?: number;
  /** Delay before a gracefully deleted pod on a node disappears (the absent kubelet's part; default 0). */
  podTerminationMs?: number;
}

export interface KubeEmulator {
  url: string;
  /** Admin kubeconfig: http → insecure-skip-tls-verify; https → CA + client cert (CN admin, O system:masters). */
  kubeconfigYaml: string;
  writeKubeconfig(path: string): void;
  /** https only: kubeconfig that authenticates with `bearerToken` instead of a client certificate. */
  tokenKubeconfigYaml: string;
  caPem?: string;
  /** https only: the CA that signed the server cert; issue more client certs with it. */
  ca?: CertificateAuthority;
  clientCertificate?: KeyAndCert;
  bearerToken: string;
  create(obj: KubeObject): KubeObject;
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[];
  update(obj: KubeObject): KubeObject;
  /** The /status subresource write (only status changes are kept). */
  updateStatus(obj: KubeObject): KubeObject;
  patch(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type?: PatchType,
  ): KubeObject;
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): void;
  /** Resolves with the object once `predicate` holds (checked on every change), rejects after timeoutMs. */
  waitFor(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
    predicate: (obj: KubeObject | undefined) => boolean,
    timeoutMs?: number,
  ): Promise<KubeObject | undefined>;
  /** The current global resourceVersion. */
  resourceVersion(): number;
  dropWatches(): void;
  compactHistory(): void;
  failNext(match: { method?: string; pathIncludes?: string }, status: number, times?: number): void;
  setLatency(ms: number): void;
  requests(): Array<{ method: string; path: string; status: number }>;
  stop(): Promise<void>;
}

function kubeconfig(server: string, cluster: Record<string, string | boolean>, user: Record<string, string>): string {
  const lines = (o: Record<string, string | boolean>, indent: string) =>
    Object.entries(o)
      .map(([k, val]) => `${indent}${k}: ${typeof val === "boolean" ? val : JSON.stringify(val)}`)
      .join("\n");
  return `apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster:
    server: ${JSON.stringify(server)}
${lines(cluster, "    ")}
users:
- name: admin
  user:${Object.keys(user).length ? `\n${lines(user, "    ")}` : " {}"}
contexts:
- name: emulator
  context:
    cluster: emulator
    user: admin
    namespace: default
current-context: emulator
preferences: {}
`;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

export async function startKubeEmulator(opts: KubeEmulatorOptions = {}): Promise<KubeEmulator> {
  const host = opts.host ?? "127.0.0.1";
  const cluster = new Cluster(opts.watchHistoryLimit ?? 10_000);
  cluster.podTerminationMs = opts.podTerminationMs ?? 0;
  const bearerToken = randomBytes(24).toString("base64url");
  const state: ServerState = {
    cluster,
    tls: opts.tls === true,
    bearerToken,
    serverAddress: "",
    latencyMs: 0,
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
    faults: [],
    log: [],
    openWatches: new Set(),
  };
  const handler = createHandler(state);
  let ca: CertificateAuthority | undefined;
  let client: KeyAndCert | undefined;
  let server: http.Server;
  if (state.tls) {
    ca = createCertificateAuthority("kube-emulator CA");
    const serving = ca.issueServer({ dns: ["localhost", "kubernetes", "kubernetes.default.svc"], ips: [host] });
    client = ca.issueClient("admin", ["system:masters"]);
    // requestCert without rejectUnauthorized: a client may instead authenticate with a bearer token;
    // socket.authorized tells whether the presented certificate chains to our CA.
    server = https.createServer(
      { key: serving.keyPem, cert: serving.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false },
      (req, res) => void handler(req, res),
    );
  } else server = http.createServer((req, res) => void handler(req, res));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${state.tls ? "https" : "http"}://${host}:${port}`;
  state.serverAddress = `${host}:${port}`;
  const kubeconfigYaml = state.tls
    ? kubeconfig(
        url,
        { "certificate-authority-data": b64(ca!.certPem) },
        { "client-certificate-data": b64(client!.certPem), "client-key-data": b64(client!.keyPem) },
      )
    : kubeconfig(url, { "insecure-skip-tls-verify": true }, {});
  const tokenKubeconfigYaml = state.tls
    ? kubeconfig(url, { "certificate-authority-data": b64(ca!.certPem) }, { token: bearerToken })
    : kubeconfigYaml;

  const typeOf = (apiVersion: string, kind: string): { type: ResourceType; version: string } => {
    const found = cluster.typeForKind(apiVersion, kind);
    if (!found) throw errors.notFound({ group: "", plural: "resources" }, `${apiVersion}/${kind}`);
    return found;
  };
  const objType = (obj: KubeObject) => typeOf(String(obj?.apiVersion ?? ""), String(obj?.kind ?? ""));
  const get = (apiVersion: string, kind: string, namespace: string | undefined, name: string) => {
    const { type, version } = typeOf(apiVersion, kind);
    try {
      return cluster.get(type, version, namespace, name);
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return undefined;
      throw e;
    }
  };

  return {
    url,
    kubeconfigYaml,
    tokenKubeconfigYaml,
    writeKubeconfig(path) {
      writeFileSync(path, kubeconfigYaml, { mode: 0o600 });
    },
    ...(ca ? { caPem: ca.certPem, ca } : {}),
    ...(client ? { clientCertificate: client } : {}),
    bearerToken,
    create(obj) {
      const { type, version } = objType(obj);
      return cluster.create(type, version, obj.metadata?.namespace, obj);
    },
    get,
    list(apiVersion, kind, namespace) {
      const { type, version } = typeOf(apiVersion, kind);
      return cluster.list(type, version, namespace !== undefined ? { namespace } : {}).items;
    },
    update(obj) {
      const { type, version } = objType(obj);
      return cluster.update(type, version, obj.metadata?.namespace, String(obj.metadata?.name ?? ""), obj);
    },
    updateStatus(obj) {
      const { type, version } = objType(obj);
      return cluster.update(type, version, obj.metadata?.namespace, String(obj.metadata?.name ?? ""), obj, "status");
    },
    patch(apiVersion, kind, namespace, name, patch, patchType = "merge") {
      const { type, version } = typeOf(apiVersion, kind);
      return cluster.patch(type, version, namespace, name, patchType, patch);
    },
    remove(apiVersion, kind, namespace, name) {
      const { type, version } = typeOf(apiVersion, kind);
      cluster.delete(type, version, namespace, name);
    },
    waitFor(apiVersion, kind, namespace, name, predicate, timeoutMs = 5000) {
      const { type, version } = typeOf(apiVersion, kind);
      return new Promise((resolve, reject) => {
        const check = () => {
          const current = get(apiVersion, kind, namespace, name);
          if (!predicate(current)) return false;
          cleanup();
          resolve(current);
          return true;
        };
        const handle = cluster.watch(type, version, { resourceVersion: String(cluster.resourceVersion) }, () =>
          check(),
        );
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`waitFor ${kind} ${namespace ?? ""}/${name}: condition not met within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          handle.cancel();
          clearTimeout(timer);
        };
        check();
      });
    },
    resourceVersion: () => cluster.resourceVersion,
    dropWatches() {
      for (const close of [...state.openWatches]) close();
    },
    compactHistory() {
      cluster.compact();
    },
    failNext(match, status, times = 1) {
      state.faults.push({ ...match, status, remaining: times });
    },
    setLatency(ms) {
      state.latencyMs = ms;
    },
    requests: () => state.log.map((e) => ({ ...e })),
    async stop() {
      for (const close of [...state.openWatches]) close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
  };
}
