// The COMPILED pod-identity binary as NMI in a node made of network namespaces, with real iptables (root
// only): what it does with its interception on SIGTERM. A restart keeps the aad-metadata chain and the
// PREROUTING jump (pods fail closed until the next NMI is up); an uninstall removes exactly those and
// nothing else, so pods reach IMDS directly again. NMI tells the two apart through its own pod (POD_NAME /
// POD_NAMESPACE, the chart's downward API) and the DaemonSet that owns it: present → restart; being
// deleted (deletionTimestamp) or gone (404) → uninstall; no POD_NAME / POD_NAMESPACE → it cannot tell and
// keeps the rules. The IMDS front on the node records each request's source, so a pod's request that
// reached IMDS directly is seen. (The chart's --cleanup init container is covered by
// test/integration/helm-uninstall.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { compiledBinary } from "../support/compiled-binary.ts";
import type { LineProcess } from "./support/line-process.ts";
import { createNodeTopology, inNetns, type NodeTopology, netnsSkipReason } from "./support/netns-topology.ts";
import { NMI_PORT, startNmiInNetns } from "./support/nmi-in-netns.ts";
import { DaemonSetStateSchema } from "./support/node-world.ts";
import { NodeWorldClient } from "./support/node-world-client.ts";
import { curlFromPod } from "./support/pod-requests.ts";

const skipReason = netnsSkipReason(["curl"]);
if (skipReason) console.warn(`skipping compiled NMI uninstall e2e (network namespaces): ${skipReason}`);

const NMI_NAMESPACE = "identity-system";
const INSTANCE_URL = "http://169.254.169.254/metadata/instance?api-version=2021-02-01";
/** The chain as §5.1 of the behaviour reference lists it (the original's exact rules). */
const EXPECTED_CHAIN = [
  "-N aad-metadata",
  `-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:${NMI_PORT}`,
  "-A aad-metadata -j RETURN",
];
const JUMP = "-A PREROUTING -j aad-metadata";

let topology: NodeTopology | undefined;
let world: NodeWorldClient | undefined;
let nmi: LineProcess | undefined;
let dir = "";
let binary = "";
/** `iptables -t nat -S` before NMI first ran: other components' rules, which an uninstall must leave as they are. */
let natBeforeNmi: string[] = [];
/** IMDS hits before this index came before the case under test. */
let hitsSeen = 0;

const app = () => {
  if (!topology) throw new Error("no topology");
  return topology.pod("app");
};
const iptablesInNode = (args: string[]) =>
  inNetns(topology?.nodeNetns ?? "", ["iptables", "-w", "5", "-t", "nat", ...args], { allowFail: true });
const lines = (text: string) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
const natRules = () => lines(iptablesInNode(["-S"]).stdout);
const chainLines = () => lines(iptablesInNode(["-S", "aad-metadata"]).stdout);
const preroutingJumps = () => natRules().filter((line) => line === JUMP).length;

/** IMDS requests since the last call whose source is the pod: each one reached IMDS directly, past NMI. */
async function newPodSourcedHits(): Promise<string[]> {
  const hits = (await world?.imdsHits()) ?? [];
  const fresh = hits.slice(hitsSeen);
  hitsSeen = hits.length;
  return fresh.filter((hit) => hit.source === app().ip).map((hit) => hit.path);
}

/** Starts NMI (with its own pod's downward-API env when given) and waits for its rules to be in place. */
async function startNmi(ownPod?: { name: string; namespace: string }): Promise<LineProcess> {
  if (!world || !topology) throw new Error("world not started");
  const started = startNmiInNetns({
    nodeNetns: topology.nodeNetns,
    binary,
    world: world.info,
    dir,
    role: "nmi",
    ...(ownPod ? { env: { POD_NAME: ownPod.name, POD_NAMESPACE: ownPod.namespace } } : {}),
  });
  await started.waitFor(/NMI serving/, 15_000);
  const deadline = Date.now() + 10_000;
  while (!(Bun.deepEquals(chainLines(), EXPECTED_CHAIN) && preroutingJumps() === 1) && Date.now() < deadline)
    await Bun.sleep(100);
  expect({ chain: chainLines(), jumps: preroutingJumps() }).toEqual({ chain: EXPECTED_CHAIN, jumps: 1 });
  return started;
}

/** NMI's DaemonSet (with a finalizer when `held`) and NMI's pod owned by it. */
async function nmiDaemonSet(name: string, held: boolean): Promise<{ name: string; namespace: string }> {
  await world?.send({
    op: "daemonSet",
    name,
    namespace: NMI_NAMESPACE,
    ...(held ? { finalizer: "e2e.example.com/hold" } : {}),
  });
  const podName = `${name}-x7k2p`;
  await world?.send({ op: "ownedPod", name: podName, namespace: NMI_NAMESPACE, ip: app().hostIp, daemonSet: name });
  return { name: podName, namespace: NMI_NAMESPACE };
}

async function deleteDaemonSet(name: string) {
  return v.parse(DaemonSetStateSchema, await world?.send({ op: "deleteDaemonSet", name, namespace: NMI_NAMESPACE }));
}

/** SIGTERM; NMI must exit 0 and say which way it decided. */
async function terminate(decision: RegExp): Promise<string> {
  const code = await nmi?.stop("SIGTERM");
  const output = nmi?.tail(20_000) ?? "";
  expect({ code, decided: decision.test(output) }).toEqual({ code: 0, decided: true });
  return output;
}

/** The rules stay: a pod's request is DNATed to NMI's port, where nobody listens, and never reaches IMDS. */
async function expectFailClosed(): Promise<void> {
  expect(chainLines()).toEqual(EXPECTED_CHAIN);
  expect(preroutingJumps()).toBe(1);
  const answer = curlFromPod(app(), INSTANCE_URL);
  expect({ exit: answer.exit, status: answer.status }).toEqual({ exit: 7, status: 0 });
  expect(await newPodSourcedHits()).toEqual([]);
}

/** The rules are gone, exactly them: nat is back to what it was before NMI, and the pod reaches IMDS itself. */
async function expectUninstalled(): Promise<void> {
  expect(iptablesInNode(["-S", "aad-metadata"]).code).not.toBe(0);
  expect(natRules()).toEqual(natBeforeNmi);
  const answer = curlFromPod(app(), INSTANCE_URL);
  expect(answer.status).toBe(200);
  expect(await newPodSourcedHits()).toEqual(["/metadata/instance"]);
}

describe.skipIf(skipReason !== null)(
  "compiled NMI on SIGTERM: restart keeps the interception, uninstall removes it",
  () => {
    beforeAll(async () => {
      binary = compiledBinary();
      dir = mkdtempSync(join(tmpdir(), "nmi-uninstall-e2e-"));
      topology = createNodeTopology("e2u", ["app"]);
      // Other components' nat rules on the node (a kube-proxy-like chain and a plain rule in PREROUTING).
      for (const args of [
        ["-N", "E2E-SERVICES"],
        ["-A", "E2E-SERVICES", "-d", "10.96.0.10/32", "-p", "udp", "--dport", "53", "-j", "RETURN"],
        ["-A", "PREROUTING", "-j", "E2E-SERVICES"],
        ["-A", "PREROUTING", "-d", "10.99.0.1/32", "-j", "RETURN"],
        ["-A", "POSTROUTING", "-s", "10.244.0.0/16", "!", "-d", "10.244.0.0/16", "-j", "MASQUERADE"],
      ]) {
        const added = iptablesInNode(args);
        if (added.code !== 0) throw new Error(`iptables ${args.join(" ")}: ${added.stderr}`);
      }
      natBeforeNmi = natRules();
      world = await NodeWorldClient.start(topology.nodeNetns, binary, { mic: false });
    }, 60_000);

    afterAll(async () => {
      await nmi?.stop("SIGKILL");
      await world?.stop();
      topology?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("control: before NMI ran, the pod reaches IMDS directly and the front records the pod's address", async () => {
      expect(curlFromPod(app(), INSTANCE_URL).status).toBe(200);
      expect(await newPodSourcedHits()).toEqual(["/metadata/instance"]);
    });

    test("DaemonSet present (a restart): SIGTERM keeps the chain and the jump; the pod's request is refused and never reaches IMDS", async () => {
      const own = await nmiDaemonSet("nmi-restarted", false);
      nmi = await startNmi(own);
      await terminate(/keeping the iptables rules/);
      await expectFailClosed();
    }, 25_000);

    test("no POD_NAME / POD_NAMESPACE: SIGTERM keeps the rules and the log says it cannot tell without them", async () => {
      nmi = await startNmi(); // adopts the rules the previous NMI left
      const output = await terminate(/keeping the iptables rules/);
      const why = output.split("\n").filter((line) => /POD_NAME/.test(line) && /POD_NAMESPACE/.test(line));
      expect(why.length).toBeGreaterThan(0);
      await expectFailClosed();
    }, 25_000);

    test("DaemonSet being deleted (deletionTimestamp, held by a finalizer): SIGTERM removes the chain and the jump only; the pod reaches IMDS directly", async () => {
      const own = await nmiDaemonSet("nmi-deleting", true);
      nmi = await startNmi(own); // adopts the kept rules
      const left = await deleteDaemonSet("nmi-deleting");
      expect(left.present).toBe(true);
      expect(left.deletionTimestamp).not.toBeNull();
      await terminate(/removing the iptables rules/);
      await expectUninstalled();
    }, 25_000);

    test("DaemonSet gone (404): SIGTERM removes the chain and the jump only; the pod reaches IMDS directly", async () => {
      const own = await nmiDaemonSet("nmi-gone", false);
      nmi = await startNmi(own); // installs the rules afresh
      expect(await deleteDaemonSet("nmi-gone")).toEqual({ present: false, deletionTimestamp: null });
      await terminate(/removing the iptables rules/);
      await expectUninstalled();
    }, 25_000);
  },
);
