// Runs NMI's pieces together on a node, given its ports: the token server, the iptables interceptor and
// the probe, with readiness tied to all three, and the shutdown rule (keep the rules unless
// uninstalling). The composition root builds the ports from src/kube and src/cloud and calls this.

import { type CommandRunner, Interceptor, type InterceptorLogger, type SysctlAccess } from "./iptables.ts";
import { dnatTargetIp, type InterceptionTarget } from "./iptables-rules.ts";
import type { NmiMetrics } from "./nmi-metrics.ts";
import { type ProbeServer, Readiness, startProbeServer } from "./probe-server.ts";
import { createNmiApp, longestRequestWaitMs, type NmiServerDeps, type RunningServer, serveNmi } from "./server.ts";

export interface NodeAgentOptions {
  /** --nmi-listen-address / --nmi-port */
  listenAddress: string;
  port: number;
  /** --http-probe-port (all interfaces); null runs no probe server. */
  probePort: number | null;
  probeHostname?: string;
  /** --metadata-ip / --metadata-port */
  metadataIp: string;
  metadataPort: number;
  /** --ipt-update-interval-sec, in ms */
  iptUpdateIntervalMs: number;
  enableConntrackDeletion: boolean;
  runner?: CommandRunner;
  sysctl?: SysctlAccess;
  log?: InterceptorLogger;
  metrics?: NmiMetrics;
}

export interface NodeAgent {
  readonly interceptor: Interceptor;
  readonly server: RunningServer;
  readonly probe: ProbeServer | null;
  readonly readiness: Readiness;
  /**
   * Stops serving. Without `uninstalling` the iptables rules stay, so pods get connection refused
   * until the next NMI takes over (fail closed); with it they are removed.
   */
  stop(options: { uninstalling: boolean }): Promise<void>;
}

export function interceptionTarget(options: NodeAgentOptions): InterceptionTarget {
  return {
    metadataIp: options.metadataIp,
    metadataPort: options.metadataPort,
    targetIp: dnatTargetIp(options.listenAddress),
    targetPort: options.port,
  };
}

/**
 * Listens first, then installs the rules: while the rules exist without a listener pods are refused,
 * never passed to IMDS. `cachesSynced` is the informers' readiness (the composition root sets it).
 */
export async function startNodeAgent(
  options: NodeAgentOptions,
  deps: NmiServerDeps,
  cachesSynced: Promise<void>,
): Promise<NodeAgent> {
  const readiness = new Readiness(["iptables", "caches", "server"]);
  const metrics = options.metrics ?? deps.metrics;
  const server = serveNmi(createNmiApp({ ...deps, metrics }), {
    hostname: options.listenAddress,
    port: options.port,
    longestWaitMs: longestRequestWaitMs(deps.config),
  });
  readiness.set("server", true);
  const interceptor = new Interceptor({
    target: interceptionTarget(options),
    intervalMs: options.iptUpdateIntervalMs,
    enableConntrackDeletion: options.enableConntrackDeletion,
    runner: options.runner,
    sysctl: options.sysctl,
    log: options.log,
    onStatus: (active, error) => {
      readiness.set("iptables", active);
      metrics?.interceptionActive.set(active ? 1 : 0);
      // Only failures count: a clean cleanup (uninstall) also reports inactive, without an error.
      if (error) metrics?.iptablesErrors.inc();
    },
  });
  interceptor.start();
  void cachesSynced.then(() => readiness.set("caches", true));
  const probe =
    options.probePort === null
      ? null
      : startProbeServer({
          port: options.probePort,
          hostname: options.probeHostname,
          isActive: () => readiness.active,
        });
  return {
    interceptor,
    server,
    probe,
    readiness,
    async stop({ uninstalling }) {
      readiness.set("server", false);
      if (uninstalling) await interceptor.cleanup();
      else await interceptor.stop();
      await server.stop();
      await probe?.stop();
    },
  };
}

/** `pod-identity --role nmi --cleanup`: remove the interception and nothing else. */
export async function cleanupInterception(
  options: Pick<NodeAgentOptions, "listenAddress" | "port" | "metadataIp" | "metadataPort" | "runner" | "log">,
): Promise<void> {
  const interceptor = new Interceptor({
    target: interceptionTarget({
      ...options,
      probePort: null,
      iptUpdateIntervalMs: 60_000,
      enableConntrackDeletion: false,
    }),
    intervalMs: 60_000,
    enableConntrackDeletion: false,
    runner: options.runner,
    log: options.log,
  });
  await interceptor.cleanup();
}

/**
 * SIGTERM / SIGINT: stop serving and exit 0 (1 if stopping failed). The rules are kept unless
 * `isUninstalling` says NMI's own DaemonSet is gone or being deleted (the composition root asks the API).
 */
export function handleShutdownSignals(
  agent: NodeAgent,
  isUninstalling: () => Promise<boolean>,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  let stopping = false;
  const onSignal = async () => {
    if (stopping) return;
    stopping = true;
    let uninstalling = false;
    try {
      uninstalling = await isUninstalling();
    } catch {
      // Unknown means keep the rules: failing closed is the safe side.
    }
    try {
      await agent.stop({ uninstalling });
      exit(0);
    } catch {
      exit(1);
    }
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return () => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  };
}
