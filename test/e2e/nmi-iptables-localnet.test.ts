// NMI's guard against CVE-2020-8558 with real iptables in network namespaces (root only). NMI's DNAT to
// 127.0.0.1 needs route_localnet=1, which also lets a neighbour send to 127.0.0.0/8 and reach services
// bound to the node's loopback. When NMI relies on route_localnet it keeps kube-proxy's guard in its own
// filter chain: pods' DNATed IMDS traffic still reaches NMI, a neighbour's packet to 127.0.0.1 is dropped.
// The "stranger" namespace stands for that neighbour: it routes 127.0.0.0/8 to the node over its veth.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LineProcess } from "./support/line-process.ts";
import { createNodeTopology, inNetns, type NodeTopology, netnsSkipReason } from "./support/netns-topology.ts";
import { startAgentInNetns } from "./support/nmi-agent-in-netns.ts";
import { curlFromPod, tokenUrl } from "./support/pod-requests.ts";

const skipReason = netnsSkipReason(["curl"]);
if (skipReason) console.warn(`skipping NMI localnet guard e2e (network namespaces): ${skipReason}`);

const ROUTE_LOCALNET = "net.ipv4.conf.all.route_localnet";
const GUARD = [
  "-N aad-metadata-localnet",
  "-A aad-metadata-localnet ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
];

let topology: NodeTopology | undefined;
let nmi: LineProcess | undefined;

const node = () => topology?.nodeNetns ?? "";
const filter = (args: string[]) =>
  inNetns(node(), ["iptables", "-w", "5", "-t", "filter", ...args], { allowFail: true });
const lines = (text: string) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
const guardLines = () => lines(filter(["-S", "aad-metadata-localnet"]).stdout);
/** The stranger's plain HTTP request to the node's loopback listener on 2579: curl's exit and status. */
const strangerToLoopback = () => curlFromPod(topology!.pod("stranger"), "http://127.0.0.1:2579/", {}, 2);

describe.skipIf(skipReason !== null)("NMI's localnet guard (CVE-2020-8558) in network namespaces", () => {
  beforeAll(async () => {
    topology = createNodeTopology("nlg", ["app", "stranger"]);
    // The stranger sends to 127.0.0.0/8 through the node, as an attacker on the node's network can.
    const stranger = topology.pod("stranger");
    inNetns(stranger.netns, ["sysctl", "-qw", `${ROUTE_LOCALNET}=1`]);
    inNetns(stranger.netns, ["ip", "addr", "del", "127.0.0.1/8", "dev", "lo"]);
    inNetns(stranger.netns, ["ip", "route", "add", "127.0.0.0/8", "via", stranger.hostIp]);

    // The setup is meaningful: with route_localnet=1 and no guard, the stranger reaches a loopback listener.
    inNetns(node(), ["sysctl", "-qw", `${ROUTE_LOCALNET}=1`]);
    const listener = new LineProcess([
      "ip",
      "netns",
      "exec",
      node(),
      process.execPath,
      "-e",
      'Bun.serve({ hostname: "127.0.0.1", port: 2579, fetch: () => new Response("loopback only") }); console.log("UP");',
    ]);
    try {
      await listener.waitFor(/^UP$/);
      const reached = strangerToLoopback();
      if (reached.status !== 200 || reached.body !== "loopback only") {
        throw new Error(
          `the stranger does not reach the node's loopback without the guard: ${JSON.stringify(reached)}`,
        );
      }
    } finally {
      await listener.stop("SIGKILL");
    }
    // NMI starts on a node where nobody set route_localnet: it sets it itself.
    inNetns(node(), ["sysctl", "-qw", `${ROUTE_LOCALNET}=0`]);
    nmi = startAgentInNetns(node());
    await nmi.waitFor(/^READY$/);
  });

  afterAll(async () => {
    await nmi?.stop("SIGKILL");
    topology?.destroy();
  });

  test("NMI set route_localnet=1 and keeps the guard in its own filter chain, jumped to from INPUT first", () => {
    expect(inNetns(node(), ["sysctl", "-n", ROUTE_LOCALNET]).stdout.trim()).toBe("1");
    expect(guardLines()).toEqual(GUARD);
    expect(lines(filter(["-S", "INPUT"]).stdout)[1]).toBe("-A INPUT -j aad-metadata-localnet");
  });

  test("a pod's request to 169.254.169.254 still reaches NMI (its DNATed flow has ctstate DNAT)", () => {
    // Without the Metadata header NMI answers 400 itself: the request reached NMI, not IMDS.
    const answer = curlFromPod(topology!.pod("app"), tokenUrl("https://vault.azure.net"), {});
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("Required metadata header not specified");
  });

  test("a packet to 127.0.0.1 from another namespace is dropped", () => {
    const answer = strangerToLoopback();
    expect(answer.exit).toBe(28); // timed out: dropped, not even refused
    expect(answer.status).toBe(0);
    const counters = lines(filter(["-L", "aad-metadata-localnet", "-n", "-v", "-x"]).stdout);
    expect(Number(counters[2]?.split(/\s+/)[0])).toBeGreaterThan(0);
  });

  test("a flushed guard is restored by the reconcile loop", async () => {
    filter(["-F", "aad-metadata-localnet"]);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && guardLines().length < GUARD.length) await Bun.sleep(50);
    expect(guardLines()).toEqual(GUARD);
    expect(strangerToLoopback().exit).toBe(28);
  });

  test("--cleanup removes the guard chain and its INPUT jump with the nat chain", async () => {
    await nmi?.stop("SIGKILL");
    const cleanup = startAgentInNetns(node(), { NMI_CLEANUP: "1" });
    await cleanup.waitFor(/^CLEANED$/);
    await cleanup.stop();
    expect(filter(["-S", "aad-metadata-localnet"]).code).not.toBe(0);
    expect(filter(["-S", "INPUT"]).stdout).not.toContain("aad-metadata");
    const nat = inNetns(node(), ["iptables", "-w", "5", "-t", "nat", "-S"], { allowFail: true }).stdout;
    expect(nat).not.toContain("aad-metadata");
  });
});
