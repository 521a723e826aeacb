// A node and its pods as Linux network namespaces (root only): one node namespace, and per pod a
// namespace joined to the node by its own veth pair, with the pod's default route via the node's end
// (as a CNI plugin wires a pod). The node's end of a pod's veth is that pod's HOST_IP. The IMDS address
// 169.254.169.254 lives on the node's loopback, so only the node itself (or traffic routed through it)
// reaches it. Names carry a caller prefix and the pid, so concurrent test processes never collide.
import { isIP } from "node:net";

export interface PodNetwork {
  /** Pod name (also the suffix of its namespace). */
  name: string;
  /** Network namespace name. */
  netns: string;
  /** The pod's address (status.podIP). */
  ip: string;
  /** The node's end of this pod's veth: the pod's gateway and HOST_IP. */
  hostIp: string;
}

export interface NodeTopology {
  nodeNetns: string;
  pods: Record<string, PodNetwork>;
  pod(name: string): PodNetwork;
  /** Deletes every namespace made (their veths go with them); safe to call twice or after a failed create. */
  destroy(): void;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(argv: string[], options: { allowFail?: boolean; env?: Record<string, string> } = {}) {
  const result = Bun.spawnSync(argv, {
    stdout: "pipe",
    stderr: "pipe",
    ...(options.env ? { env: options.env } : {}),
  });
  const out: CommandResult = {
    code: result.exitCode ?? -1,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
  };
  if (out.code !== 0 && !options.allowFail) throw new Error(`${argv.join(" ")} exited ${out.code}: ${out.stderr}`);
  return out;
}

export function inNetns(
  netns: string,
  argv: string[],
  options: { allowFail?: boolean; env?: Record<string, string> } = {},
) {
  return run(["ip", "netns", "exec", netns, ...argv], options);
}

/** Why these tests cannot run here, or null. */
export function netnsSkipReason(tools: string[] = []): string | null {
  if (process.getuid?.() !== 0) return "needs root (network namespaces and iptables)";
  for (const tool of ["ip", "iptables", ...tools]) if (!Bun.which(tool)) return `needs ${tool} on PATH`;
  return run(["ip", "netns", "list"], { allowFail: true }).code === 0 ? null : "needs `ip netns`";
}

/**
 * Deletes namespaces `<prefix><pid>-*` left by a test process that no longer exists (killed before its
 * afterAll ran), so a crashed run does not leave namespaces behind for good.
 */
export function removeStaleNamespaces(prefix: string): void {
  const listing = run(["ip", "netns", "list"], { allowFail: true }).stdout;
  const pattern = new RegExp(`^(${prefix}(\\d+)-\\S+)`);
  for (const line of listing.split("\n")) {
    const match = pattern.exec(line);
    if (!match?.[1] || !match[2]) continue;
    const pid = Number(match[2]);
    if (pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) run(["ip", "netns", "del", match[1]], { allowFail: true });
  }
}

/**
 * Pod k (1-based) gets 10.<subnet>.<k>.10/24 with the node's end at 10.<subnet>.<k>.1: each pod its own
 * /24, so the node routes replies by the connected routes alone.
 */
export function createNodeTopology(prefix: string, podNames: string[], subnet = 244): NodeTopology {
  removeStaleNamespaces(prefix);
  const tag = `${prefix}${process.pid}`;
  if (tag.length > 11) throw new Error(`netns/veth prefix ${tag} too long for 15-character interface names`);
  const nodeNetns = `${tag}-node`;
  const made: string[] = [];
  const pods: Record<string, PodNetwork> = {};
  const destroy = () => {
    for (const netns of made.splice(0).reverse()) run(["ip", "netns", "del", netns], { allowFail: true });
  };
  try {
    run(["ip", "netns", "add", nodeNetns]);
    made.push(nodeNetns);
    inNetns(nodeNetns, ["ip", "link", "set", "lo", "up"]);
    inNetns(nodeNetns, ["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"]);
    podNames.forEach((name, index) => {
      const k = index + 1;
      const netns = `${tag}-${name}`;
      const hostEnd = `${tag}h${k}`;
      const podEnd = `${tag}p${k}`;
      const hostIp = `10.${subnet}.${k}.1`;
      const ip = `10.${subnet}.${k}.10`;
      if (!isIP(ip)) throw new Error(`bad pod address ${ip}`);
      run(["ip", "netns", "add", netns]);
      made.push(netns);
      run(["ip", "link", "add", hostEnd, "type", "veth", "peer", "name", podEnd]);
      run(["ip", "link", "set", hostEnd, "netns", nodeNetns]);
      run(["ip", "link", "set", podEnd, "netns", netns]);
      inNetns(nodeNetns, ["ip", "addr", "add", `${hostIp}/24`, "dev", hostEnd]);
      inNetns(nodeNetns, ["ip", "link", "set", hostEnd, "up"]);
      inNetns(netns, ["ip", "link", "set", "lo", "up"]);
      inNetns(netns, ["ip", "addr", "add", `${ip}/24`, "dev", podEnd]);
      inNetns(netns, ["ip", "link", "set", podEnd, "up"]);
      inNetns(netns, ["ip", "route", "add", "default", "via", hostIp]);
      pods[name] = { name, netns, ip, hostIp };
    });
  } catch (error) {
    destroy();
    throw error;
  }
  return {
    nodeNetns,
    pods,
    pod(name) {
      const pod = pods[name];
      if (!pod) throw new Error(`no pod network ${name}`);
      return pod;
    },
    destroy,
  };
}
