// Runs the compiled pod-identity binary as NMI (or managed) against an emulated world, and sends token
// requests from chosen loopback source addresses (each one a "pod IP").
//
// Interception: these tests share the machine's network namespace with the emulators, so NMI must not
// touch its iptables or route_localnet. When the tests run as root, NMI is started as the unprivileged
// user `nobody` (setpriv): its iptables calls and the sysctl write fail, the interceptor stays Not
// Active, and only the token server, probe and metrics are exercised here. Real interception is covered
// by the network-namespace e2e tests (test/e2e/nmi-*).
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../emulators/world/free-port.ts";
import type { World } from "../../emulators/world.ts";

export interface NmiProcess {
  port: number;
  probePort: number;
  metricsPort: number;
  process: Bun.Subprocess<"ignore", "ignore", "pipe">;
  logs(): string;
  /** Resolves once the log says `text` (rejects after timeoutMs). */
  waitForLog(text: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<number>;
}

export interface NmiStartOptions {
  node: string;
  imdsUrl: string;
  role?: "nmi" | "managed";
  extraArgs?: string[];
  env?: Record<string, string>;
}

const isRoot = () => process.getuid?.() === 0;

/** Files the unprivileged NMI must read (the world's own directory is private to root). */
function shareWorldFiles(world: World): { dir: string; kubeconfig: string; caBundle: string } {
  const dir = mkdtempSync(join(tmpdir(), "nmi-test-"));
  chmodSync(dir, 0o755);
  const kubeconfig = join(dir, "kubeconfig");
  const caBundle = join(dir, "ca.pem");
  copyFileSync(world.kubeconfigPath, kubeconfig);
  copyFileSync(world.caBundlePath, caBundle);
  chmodSync(kubeconfig, 0o644);
  chmodSync(caBundle, 0o644);
  return { dir, kubeconfig, caBundle };
}

/** A short assignment wait (2 + 8 polls of 1 s instead of 16 + 4 of 5 s), so refusals come in seconds. */
export const SHORT_ASSIGNMENT_WAIT = [
  "--retry-attempts-for-created",
  "2",
  "--retry-attempts-for-assigned",
  "8",
  "--find-identity-retry-interval",
  "1",
];

export async function startNmi(world: World, binary: string, options: NmiStartOptions): Promise<NmiProcess> {
  const imds = new URL(options.imdsUrl);
  const port = await freePort();
  const probePort = await freePort();
  const metricsPort = await freePort();
  const files = shareWorldFiles(world);
  const args = [
    binary,
    "--role",
    options.role ?? "nmi",
    "--node",
    options.node,
    "--metadata-ip",
    imds.hostname,
    "--metadata-port",
    imds.port,
    "--nmi-listen-address",
    "127.0.0.1",
    "--nmi-port",
    String(port),
    "--http-probe-port",
    String(probePort),
    "--prometheus-port",
    String(metricsPort),
    "--allow-network-plugin-kubenet",
    // JSON lines, so tests can read the per-request log fields.
    "--log-format",
    "json",
    "--MICNamespace",
    "pod-identity-system",
    ...(options.extraArgs ?? []),
  ];
  const argv = isRoot() ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...args] : args;
  const child = Bun.spawn(argv, {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: files.dir,
      KUBECONFIG: files.kubeconfig,
      NODE_EXTRA_CA_CERTS: files.caBundle,
      ...(options.env ?? {}),
    },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let log = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) log += decoder.decode(chunk);
  })();
  const nmi: NmiProcess = {
    port,
    probePort,
    metricsPort,
    process: child,
    logs: () => log,
    async waitForLog(text, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!log.includes(text)) {
        if (child.exitCode !== null) throw new Error(`NMI exited ${child.exitCode} before "${text}":\n${log}`);
        if (Date.now() > deadline) throw new Error(`NMI did not log "${text}" within ${timeoutMs} ms:\n${log}`);
        await Bun.sleep(20);
      }
    },
    async stop() {
      child.kill("SIGTERM");
      const code = await child.exited;
      rmSync(files.dir, { recursive: true, force: true });
      return code;
    },
  };
  return nmi;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): Record<string, unknown>;
}

/** GET from a given loopback source address (the "pod IP" NMI identifies the caller by). */
export function getFrom(
  sourceIp: string,
  port: number,
  path: string,
  headers: Record<string, string> = { Metadata: "true" },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path, method: "GET", headers, localAddress: sourceIp, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

export function tokenPath(resource: string, extra: Record<string, string> = {}): string {
  const query = new URLSearchParams({ "api-version": "2018-02-01", resource, ...extra });
  return `/metadata/identity/oauth2/token?${query}`;
}
