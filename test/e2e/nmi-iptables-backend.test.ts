// NMI follows the node's iptables backend (root only, needs iptables-legacy and iptables-nft: Debian's
// `apt-get install -y iptables`). In a fresh node namespace whose rules live in the legacy tables (as
// kube-proxy's do on a legacy node), NMI must put its chains there too, and its DNAT must work from there.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { LineProcess } from "./support/line-process.ts";
import { createNodeTopology, inNetns, type NodeTopology, netnsSkipReason } from "./support/netns-topology.ts";
import { startAgentInNetns } from "./support/nmi-agent-in-netns.ts";
import { curlFromPod, tokenUrl } from "./support/pod-requests.ts";

const VARIANTS = ["iptables-legacy", "iptables-nft", "iptables-legacy-save", "iptables-nft-save"];
const skipReason = netnsSkipReason(["curl", ...VARIANTS]);
if (skipReason) {
  console.warn(`skipping NMI iptables backend e2e: ${skipReason} (Debian: apt-get install -y iptables)`);
}

/** kube-proxy-like rules, written with iptables-legacy before NMI starts. */
const LEGACY_RULES = [
  ["-t", "nat", "-N", "KUBE-SERVICES"],
  ["-t", "nat", "-A", "PREROUTING", "-j", "KUBE-SERVICES"],
  ["-t", "nat", "-A", "KUBE-SERVICES", "-d", "10.0.0.1/32", "-p", "tcp", "--dport", "443", "-j", "RETURN"],
  ["-t", "filter", "-N", "KUBE-FIREWALL"],
  ["-t", "filter", "-A", "INPUT", "-j", "KUBE-FIREWALL"],
];

let topology: NodeTopology | undefined;
let nmi: LineProcess | undefined;

const node = () => topology?.nodeNetns ?? "";
const iptables = (binary: string, args: string[]) => inNetns(node(), [binary, "-w", "5", ...args], { allowFail: true });

describe.skipIf(skipReason !== null)("NMI's iptables backend in a network namespace", () => {
  beforeAll(async () => {
    topology = createNodeTopology("nbk", ["app"]);
    for (const rule of LEGACY_RULES) {
      const result = iptables("iptables-legacy", rule);
      if (result.code !== 0) throw new Error(`iptables-legacy ${rule.join(" ")}: ${result.stderr}`);
    }
    nmi = startAgentInNetns(node());
    await nmi.waitFor(/^READY$/);
  });

  afterAll(async () => {
    await nmi?.stop("SIGKILL");
    topology?.destroy();
  });

  test("NMI logs the backend it chose, and why", async () => {
    const line = await nmi!.waitFor(/^LOG info using iptables-/);
    expect(line).toStartWith("LOG info using iptables-legacy ");
    expect(line).toContain('"legacyRules":3');
  });

  test("its chains land in the legacy tables, none in nft", () => {
    const nat = iptables("iptables-legacy", ["-t", "nat", "-S"]).stdout;
    expect(nat).toContain("-A PREROUTING -j aad-metadata");
    expect(nat).toContain("-j DNAT --to-destination 127.0.0.1:2579");
    expect(nat).toContain("-A PREROUTING -j KUBE-SERVICES");
    expect(iptables("iptables-legacy", ["-t", "filter", "-S", "aad-metadata-localnet"]).code).toBe(0);
    expect(iptables("iptables-nft", ["-t", "nat", "-S", "aad-metadata"]).code).not.toBe(0);
    expect(iptables("iptables-nft", ["-t", "filter", "-S", "aad-metadata-localnet"]).code).not.toBe(0);
  });

  test("a pod's request to 169.254.169.254 reaches NMI through the legacy DNAT", () => {
    const answer = curlFromPod(topology!.pod("app"), tokenUrl("https://vault.azure.net"), {});
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("Required metadata header not specified");
  });

  test("--cleanup finds the chains in the legacy tables and removes only them", async () => {
    await nmi?.stop("SIGKILL");
    const cleanup = startAgentInNetns(node(), { NMI_CLEANUP: "1" });
    await cleanup.waitFor(/^CLEANED$/);
    await cleanup.stop();
    const nat = iptables("iptables-legacy", ["-t", "nat", "-S"]).stdout;
    expect(nat).not.toContain("aad-metadata");
    expect(nat).toContain("-A PREROUTING -j KUBE-SERVICES");
    expect(iptables("iptables-legacy", ["-t", "filter", "-S"]).stdout).not.toContain("aad-metadata");
  });
});
