// Runs the compiled pod-identity binary (test/support/compiled-binary.ts) as MIC against an emulated
// world (emulators/world.ts), with short intervals so tests converge in seconds.
import { freePort } from "../../emulators/world/free-port.ts";
import type { World } from "../../emulators/world.ts";

export { compiledBinary } from "./compiled-binary.ts";

export interface MicOptions {
  instance: string;
  /** Lease duration (default "3s"). */
  leaseDuration?: string;
  extraArgs?: string[];
}

export interface MicProcess {
  instance: string;
  process: Bun.Subprocess<"ignore", "ignore", "pipe">;
  healthPort: number;
  metricsPort: number;
  /** stderr so far (the logs). */
  logs(): string;
  health(): Promise<{ status: number; body: string } | undefined>;
  metrics(): Promise<string>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number>;
  /** SIGKILL: a crash; the lease is not released. */
  kill(): Promise<void>;
}

export async function startMic(world: World, binary: string, options: MicOptions): Promise<MicProcess> {
  const healthPort = await freePort();
  const metricsPort = await freePort();
  const args = [
    binary,
    "--role",
    "mic",
    "--kubeconfig",
    world.kubeconfigPath,
    "--cloudconfig",
    world.azureJsonPath,
    "--leader-election-instance",
    options.instance,
    "--leader-election-namespace",
    "default",
    "--leader-election-duration",
    options.leaseDuration ?? "3s",
    "--http-probe-port",
    String(healthPort),
    "--prometheus-port",
    String(metricsPort),
    "--unassign-grace-period",
    "1s",
    "--identity-assignment-reconcile-interval",
    "2s",
    "--update-user-msi-retry-interval",
    "100ms",
    "--clientQps",
    "200",
    ...(options.extraArgs ?? []),
  ];
  const child = Bun.spawn(args, {
    env: { ...world.processEnv, MIC_POD_NAMESPACE: "default", PATH: process.env.PATH ?? "" },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let log = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) log += decoder.decode(chunk);
  })();
  const url = (path: string, port: number) => `http://127.0.0.1:${port}${path}`;
  return {
    instance: options.instance,
    process: child,
    healthPort,
    metricsPort,
    logs: () => log,
    async health() {
      try {
        const response = await fetch(url("/healthz", healthPort), { signal: AbortSignal.timeout(2000) });
        return { status: response.status, body: await response.text() };
      } catch {
        return undefined;
      }
    },
    async metrics() {
      const response = await fetch(url("/metrics", metricsPort), { signal: AbortSignal.timeout(2000) });
      return response.text();
    },
    async stop() {
      child.kill("SIGTERM");
      return child.exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await child.exited;
    },
  };
}

/** The value of one sample line of a Prometheus exposition, or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^([^{\s]+)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries(
      [...(match[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] as string, m[2] as string]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[4]);
  }
  return undefined;
}

/** An ARM identity client acting as a user with the world's service principal (manual changes in ARM). */
export async function userArmClient(world: World) {
  const { loadCloudConfig } = await import("../../src/cloud/cloud-config.ts");
  const { createArmCredential } = await import("../../src/cloud/credentials.ts");
  const { createArmIdentityClient } = await import("../../src/cloud/arm-identity-client.ts");
  const config = await loadCloudConfig({
    path: world.azureJsonPath,
    env: { AZURE_ENVIRONMENT_FILEPATH: world.environmentFilePath },
  });
  const credential = createArmCredential(config.authentication, {
    authorityHost: config.endpoints.activeDirectoryEndpoint,
    caPem: world.aad.caPem,
  });
  return createArmIdentityClient({
    credential,
    endpoint: config.endpoints.resourceManagerEndpoint,
    audience: config.endpoints.tokenAudience,
    caPem: await Bun.file(world.caBundlePath).text(),
    pollIntervalMs: 10,
  });
}

/** The ARM target of a world node, as the ARM identity client takes it. */
export function armTargetOf(world: World, nodeName: string) {
  const node = world.node(nodeName);
  return {
    kind: node.kind,
    subscriptionId: world.subscriptionId,
    resourceGroup: world.resourceGroup,
    name: node.computeName,
  };
}

/** Core events (v1) in a namespace whose reason matches. */
export function eventsWithReason(world: World, reason: string, namespace = "default") {
  return world.kube.list("v1", "Event", namespace).filter((e) => e.reason === reason);
}
