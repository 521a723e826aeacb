// The compiled pod-identity binary as NMI (or managed NMI) inside the node's network namespace, with
// real iptables: it installs its own aad-metadata chain there, DNATs pod traffic for 169.254.169.254:80
// to its token server on 127.0.0.1:2579 (route_localnet) and serves /healthz on all the node's addresses
// (the chart's ports: 2579 and 8085; the namespace is private, so fixed ports collide with nobody).
//
// An optional iptables gate stands for a node whose iptables is slow to answer (xtables lock held):
// NMI's `iptables` calls block while the gate file exists, so NMI is up but its rules are not in place.
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LineProcess } from "./line-process.ts";
import type { NodeWorldInfo } from "./node-world.ts";

export const NMI_PORT = 2579;
export const PROBE_PORT = 8085;

export interface NmiStart {
  nodeNetns: string;
  binary: string;
  world: NodeWorldInfo;
  /** A private directory for the kubelet flags file and the iptables gate. */
  dir: string;
  role: "nmi" | "managed";
  extraArgs?: string[];
  /** Hold NMI's iptables calls until `IptablesGate.open()`. */
  gate?: IptablesGate;
  /** More environment, e.g. the downward API's POD_NAME / POD_NAMESPACE. */
  env?: Record<string, string>;
}

/** A directory with an `iptables` that waits while a gate file exists, then runs the real one. */
export class IptablesGate {
  readonly binDir: string;
  readonly #gateFile: string;

  constructor(dir: string) {
    const real = Bun.which("iptables");
    if (!real) throw new Error("iptables not found");
    this.binDir = join(dir, "gated-bin");
    this.#gateFile = join(dir, "iptables-gate-closed");
    mkdirSync(this.binDir, { recursive: true });
    const script = join(this.binDir, "iptables");
    writeFileSync(script, `#!/bin/sh\nwhile [ -e '${this.#gateFile}' ]; do sleep 0.05; done\nexec '${real}' "$@"\n`);
    chmodSync(script, 0o755);
  }

  close(): void {
    writeFileSync(this.#gateFile, "");
  }

  open(): void {
    rmSync(this.#gateFile, { force: true });
  }

  get closed(): boolean {
    return existsSync(this.#gateFile);
  }
}

export function startNmiInNetns(options: NmiStart): LineProcess {
  const kubeletConfig = join(options.dir, "kubelet");
  // NMI refuses kubenet nodes; this one uses a CNI plugin, as AKS with Azure CNI.
  writeFileSync(kubeletConfig, "KUBELET_FLAGS=--network-plugin=cni\n");
  const path = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";
  const argv = [
    "ip",
    "netns",
    "exec",
    options.nodeNetns,
    options.binary,
    "--role",
    options.role,
    "--node",
    options.world.node,
    "--kubelet-config",
    kubeletConfig,
    "--nmi-port",
    String(NMI_PORT),
    "--http-probe-port",
    String(PROBE_PORT),
    "--ipt-update-interval-sec",
    "1",
    ...(options.extraArgs ?? []),
  ];
  return new LineProcess(argv, {
    env: {
      ...options.world.env,
      PATH: options.gate ? `${options.gate.binDir}:${path}` : path,
      NODE_NAME: options.world.node,
      ...options.env,
    },
  });
}
