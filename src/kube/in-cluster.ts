// In-cluster configuration: the API server from KUBERNETES_SERVICE_HOST/PORT, the service-account CA,
// and the projected service-account token, which the kubelet rotates (hourly by default) by swapping
// the file. client-node 2.0.1's own token-file auth re-reads the file only every 60 s and sends it
// untrimmed, so a rotated token can be sent stale; ours re-reads it whenever the file changes.
import { readFileSync, statSync } from "node:fs";
import { isIPv6 } from "node:net";
import { join } from "node:path";
import type { KubeConfig, User } from "@kubernetes/client-node";

// client-node does not export its Authenticator interface; take it from the method that accepts one.
type Authenticator = Parameters<KubeConfig["addAuthenticator"]>[0];

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const AUTH_PROVIDER_NAME = "pod-identity-service-account-token";

export interface InClusterOptions {
  env: Record<string, string | undefined>;
  /** Directory holding token, ca.crt and namespace (tests point it elsewhere). */
  serviceAccountDir?: string;
}

/** Server URL for the in-cluster API; throws when the service env vars are missing. */
export function inClusterServer(env: Record<string, string | undefined>): string {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error(
      "unable to load in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined (or pass --kubeconfig / set KUBECONFIG)",
    );
  }
  return `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** Fills `kc` with the in-cluster cluster, user and context. */
export function loadInCluster(kc: KubeConfig, options: InClusterOptions): void {
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const server = inClusterServer(options.env);
  const tokenPath = join(dir, "token");
  // Fail at start, not on the first request, when the token is not mounted.
  readServiceAccountToken(tokenPath);
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, "namespace"), "utf8").trim() || undefined;
  } catch {
    namespace = undefined;
  }
  kc.loadFromOptions({
    clusters: [{ name: "in-cluster", server, caFile: join(dir, "ca.crt"), skipTLSVerify: false }],
    users: [{ name: "in-cluster", authProvider: { name: AUTH_PROVIDER_NAME, config: { path: tokenPath } } }],
    contexts: [{ name: "in-cluster", cluster: "in-cluster", user: "in-cluster", namespace }],
    currentContext: "in-cluster",
  });
  kc.addAuthenticator(new RotatingTokenFileAuth());
}

function readServiceAccountToken(path: string): string {
  const token = readFileSync(path, "utf8").trim();
  if (!token) throw new Error(`service-account token file ${path} is empty`);
  return token;
}

/** Sends the token from a file, re-reading it whenever the file's identity, size or mtime changes. */
export class RotatingTokenFileAuth implements Authenticator {
  private cached: { path: string; fingerprint: string; token: string } | undefined;

  isAuthProvider(user: User): boolean {
    return user.authProvider?.name === AUTH_PROVIDER_NAME;
  }

  async applyAuthentication(user: User, opts: { headers?: Record<string, unknown> }): Promise<void> {
    const path: unknown = user.authProvider?.config?.path;
    if (typeof path !== "string") return;
    opts.headers ??= {};
    opts.headers.Authorization = `Bearer ${this.token(path)}`;
  }

  token(path: string): string {
    const stat = statSync(path);
    const fingerprint = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    if (this.cached?.path !== path || this.cached.fingerprint !== fingerprint) {
      this.cached = { path, fingerprint, token: readServiceAccountToken(path) };
    }
    return this.cached.token;
  }
}
