// The demo's MIC replicas and NMI, from the compiled binary, configured against the emulated world.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../emulators/world/free-port.ts";
import type { World } from "../../emulators/world.ts";
import { binaryPath } from "./binary.ts";
import type { Child, Children } from "./processes.ts";

export const MIC_NAMESPACE = "kube-system";

function childEnv(world: World, extra: Record<string, string>): Record<string, string | undefined> {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...world.processEnv, ...extra };
}

export async function startMic(world: World, children: Children, replica: number): Promise<Child> {
  const name = `mic-${replica}`;
  return children.start(
    name,
    [
      binaryPath,
      "--role",
      "mic",
      "--kubeconfig",
      world.kubeconfigPath,
      "--cloudconfig",
      world.azureJsonPath,
      "--leader-election-instance",
      name,
      "--http-probe-port",
      String(await freePort()),
      "--prometheus-port",
      String(await freePort()),
    ],
    childEnv(world, { MIC_POD_NAMESPACE: MIC_NAMESPACE }),
  );
}

/**
 * How NMI is reached. "intercepting": NMI's defaults, as on a node — it listens on 127.0.0.1:2579 and
 * its iptables rule sends pod traffic for 169.254.169.254:80 there; IMDS is 169.254.169.254:80.
 * "direct": IMDS is wherever the emulator listens and pods connect to NMI's port themselves.
 */
export type NmiPlacement = { kind: "intercepting" } | { kind: "direct"; imdsUrl: string };

export interface RunningNmi {
  /** host:port of the token server. */
  listener: { host: string; port: number };
  healthzUrl: string;
}

const DEFAULT_LISTENER = { host: "127.0.0.1", port: 2579 };

export async function startNmi(
  world: World,
  children: Children,
  node: string,
  placement: NmiPlacement,
): Promise<RunningNmi> {
  const probePort = await freePort();
  const listener = placement.kind === "intercepting" ? DEFAULT_LISTENER : { host: "127.0.0.1", port: await freePort() };
  const placementArgs =
    placement.kind === "intercepting"
      ? []
      : [
          "--metadata-ip",
          new URL(placement.imdsUrl).hostname,
          "--metadata-port",
          new URL(placement.imdsUrl).port,
          "--nmi-listen-address",
          listener.host,
          "--nmi-port",
          String(listener.port),
        ];
  // NMI refuses to start without the kubelet's flags file (the kubenet check): give it an Azure CNI node's.
  const kubeletConfig = join(world.dir, "kubelet");
  writeFileSync(kubeletConfig, "KUBELET_FLAGS=--network-plugin=cni\n");
  children.start(
    "nmi",
    [
      binaryPath,
      "--role",
      "nmi",
      "--node",
      node,
      ...placementArgs,
      "--http-probe-port",
      String(probePort),
      "--prometheus-port",
      String(await freePort()),
      "--MICNamespace",
      MIC_NAMESPACE,
      "--kubelet-config",
      kubeletConfig,
      // A pod nothing is bound to is refused after 1 s instead of the default 16 × 5 s.
      "--retry-attempts-for-created",
      "1",
      "--retry-attempts-for-assigned",
      "1",
      "--find-identity-retry-interval",
      "1",
    ],
    childEnv(world, { NODE_NAME: node }),
  );
  return { listener, healthzUrl: `http://127.0.0.1:${probePort}/healthz` };
}
