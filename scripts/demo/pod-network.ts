// Pods as on a node, inside the demo's private network namespace (which is the node): one network
// namespace per pod, joined to the node by a veth pair, with the pod IP on the pod's eth0 and a
// default route via the node. IMDS's 169.254.169.254 is an address of the node only. The pod
// namespaces are named (`ip netns add`), so they outlive the private namespace unless deleted: the
// demo deletes them on exit, and the outer process sweeps its prefix again after the demo has gone.

/** The node's address on every pod veth (the pods' gateway). */
export const NODE_IP = "10.244.0.1";
export const IMDS_IP = "169.254.169.254";

export interface PodAddress {
  name: string;
  ip: string;
}

export interface PodNamespace extends PodAddress {
  /** `ip netns` name. */
  netns: string;
  /** The node's end of the veth pair (the pod's end is eth0). */
  hostVeth: string;
}

/** Names for one demo run: unique per outer process, so parallel or leftover runs never collide. */
export function namespacePrefix(runId: string | number): string {
  return `pidemo-${runId}-`;
}

/** Interface names are at most 15 characters. */
export function hostVethName(pod: string): string {
  return `veth-${pod}`.slice(0, 15);
}

/** Names in `ip netns list` output ("name" or "name (id: 3)") that start with the prefix. */
export function namespacesWithPrefix(listing: string, prefix: string): string[] {
  return listing
    .split("\n")
    .map((line) => line.trim().split(/\s+/)[0] ?? "")
    .filter((name) => name.startsWith(prefix));
}

function run(argv: string[]): void {
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString().trim()}`);
}

function listNamespaces(): string {
  const result = Bun.spawnSync(["ip", "netns", "list"], { stdout: "pipe", stderr: "ignore" });
  return result.exitCode === 0 ? result.stdout.toString() : "";
}

/** Deletes every pod namespace of a run still there; returns their names. */
export function sweepNamespaces(prefix: string): string[] {
  const left = namespacesWithPrefix(listNamespaces(), prefix);
  for (const name of left) Bun.spawnSync(["ip", "netns", "del", name], { stdout: "ignore", stderr: "ignore" });
  return left;
}

/**
 * Makes this (private) namespace the node: 169.254.169.254 on its loopback for the IMDS emulator,
 * answered only to the node itself — anything arriving from a pod for it is rejected, so a pod gets a
 * token only through NMI's DNAT (which rewrites the destination before the filter sees it).
 */
export function setUpNode(): void {
  run(["ip", "addr", "add", `${IMDS_IP}/32`, "dev", "lo"]);
  run(["iptables", "-w", "5", "-A", "INPUT", "-d", `${IMDS_IP}/32`, "!", "-i", "lo", "-j", "REJECT"]);
}

function addPod(prefix: string, pod: PodAddress): PodNamespace {
  const netns = `${prefix}${pod.name}`;
  const hostVeth = hostVethName(pod.name);
  run(["ip", "netns", "add", netns]);
  run(["ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", netns]);
  run(["ip", "addr", "add", `${NODE_IP}/32`, "dev", hostVeth]);
  run(["ip", "link", "set", hostVeth, "up"]);
  run(["ip", "route", "add", `${pod.ip}/32`, "dev", hostVeth]);
  run(["ip", "-n", netns, "link", "set", "lo", "up"]);
  run(["ip", "-n", netns, "addr", "add", `${pod.ip}/24`, "dev", "eth0"]);
  run(["ip", "-n", netns, "link", "set", "eth0", "up"]);
  run(["ip", "-n", netns, "route", "add", "default", "via", NODE_IP]);
  return { ...pod, netns, hostVeth };
}

export interface PodNetwork {
  pods: PodNamespace[];
  netnsOf(pod: string): string;
  /** Deletes the pod namespaces (their veths go with them). Safe to call twice. */
  remove(): void;
}

/** Creates the pods' namespaces; on failure removes what it made and rethrows. */
export function createPodNetwork(prefix: string, pods: PodAddress[]): PodNetwork {
  const made: PodNamespace[] = [];
  const remove = () => {
    sweepNamespaces(prefix);
  };
  try {
    for (const pod of pods) made.push(addPod(prefix, pod));
  } catch (error) {
    remove();
    throw error;
  }
  return {
    pods: made,
    netnsOf(name) {
      const pod = made.find((p) => p.name === name);
      if (!pod) throw new Error(`no namespace for pod ${name}`);
      return pod.netns;
    },
    remove,
  };
}
