// Starts the compiled pod-identity binary in one role against an emulated world, for the RBAC test:
// the role's arguments come from the rendered chart (so the test runs what the chart deploys), with the
// cluster-specific paths and ports replaced by the world's.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../emulators/world/free-port.ts";
import type { World } from "../../emulators/world.ts";
import type { K8sObject } from "./helm-render.ts";

export interface RoleProcess {
  healthPort: number;
  logs(): string;
  health(): Promise<string | undefined>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number>;
}

/** The main container's args of a rendered Deployment / DaemonSet, `$(VAR)` expanded from `vars`. */
export function renderedArgs(workload: K8sObject | undefined, vars: Record<string, string> = {}): string[] {
  const container = workload?.spec?.template?.spec.containers[0];
  if (!container) throw new Error("no workload rendered");
  return (container.args ?? []).map((arg) => arg.replace(/\$\(([A-Z_]+)\)/g, (whole, name) => vars[name] ?? whole));
}

/**
 * The main container's env of a rendered workload: plain values as given, downward-API fieldRefs
 * resolved from `fields` (e.g. "metadata.namespace"); a fieldRef not in `fields` is left out.
 */
export function renderedEnv(workload: K8sObject | undefined, fields: Record<string, string>): Record<string, string> {
  const container = workload?.spec?.template?.spec.containers[0];
  const env: Record<string, string> = {};
  for (const variable of container?.env ?? []) {
    const path = variable.valueFrom?.fieldRef?.fieldPath;
    const value = variable.value ?? (path === undefined ? undefined : fields[path]);
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

/** Drops `--flag=...` / `--flag` entries whose name is in `names` (the test sets them itself). */
export function withoutFlags(args: string[], names: string[]): string[] {
  return args.filter((arg) => !names.some((name) => arg === `--${name}` || arg.startsWith(`--${name}=`)));
}

/**
 * What NMI needs to run on this machine without touching it: `iptables` on PATH is a stub (listing
 * finds nothing, every change succeeds), and the process gets a private mount namespace in which
 * route_localnet reads 1, so NMI never writes the host's sysctl. Plus a kubelet config that is not
 * kubenet. Needs root (unshare, mount); `skipReason` says why it cannot run otherwise.
 */
export interface NodeSandbox {
  skipReason: string | undefined;
  /** Prefix for the argv. */
  wrap(argv: string[]): string[];
  env: Record<string, string>;
  kubeletConfigPath: string;
}

/** Why a node sandbox cannot run here, or undefined when it can. */
export function sandboxSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (a private mount namespace for route_localnet)";
  if (!Bun.which("unshare") || !Bun.which("mount")) return "needs unshare and mount";
  return undefined;
}

const ROUTE_LOCALNET = "/proc/sys/net/ipv4/conf/all/route_localnet";

export function nodeSandbox(dir: string): NodeSandbox {
  const bin = join(dir, "sandbox-bin");
  mkdirSync(bin, { recursive: true });
  // argv: -w 5 -t nat <op> ...: -S (list) and -C (check) report "absent", everything else succeeds.
  writeFileSync(join(bin, "iptables"), '#!/bin/sh\ncase "$5" in -S|-C) exit 1;; esac\nexit 0\n', { mode: 0o755 });
  const routeLocalnet = join(dir, "route_localnet");
  writeFileSync(routeLocalnet, "1\n");
  const kubeletConfigPath = join(dir, "kubelet");
  writeFileSync(kubeletConfigPath, "KUBELET_FLAGS=--network-plugin=cni\n");
  return {
    skipReason: sandboxSkipReason(),
    wrap: (argv) => [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      `mount --bind "$0" ${ROUTE_LOCALNET} && exec "$@"`,
      routeLocalnet,
      ...argv,
    ],
    env: { PATH: `${bin}:${process.env.PATH ?? ""}` },
    kubeletConfigPath,
  };
}

export async function startRole(
  world: World,
  binary: string,
  args: string[],
  env: Record<string, string> = {},
  wrap: (argv: string[]) => string[] = (argv) => argv,
): Promise<RoleProcess> {
  const healthPort = await freePort();
  const child = Bun.spawn(wrap([binary, ...args, `--http-probe-port=${healthPort}`]), {
    env: { ...world.processEnv, PATH: process.env.PATH ?? "", ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let log = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) log += decoder.decode(chunk);
  })();
  return {
    healthPort,
    logs: () => log,
    async health() {
      try {
        const response = await fetch(`http://127.0.0.1:${healthPort}/healthz`, { signal: AbortSignal.timeout(2000) });
        return await response.text();
      } catch {
        return undefined;
      }
    },
    async stop() {
      child.kill("SIGTERM");
      return child.exited;
    },
  };
}
