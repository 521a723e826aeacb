// --enable-conntrack-deletion with the COMPILED NMI in a node network namespace (root, real iptables and
// conntrack). iptables' nat table only sees the first packet of a flow: a connection a pod opened to
// 169.254.169.254:80 BEFORE NMI installed its DNAT keeps going straight to the node's IMDS afterwards,
// with no pod check at all. With the flag NMI deletes the conntrack entries of such flows once its rules
// are in, so the next packet of that connection is judged again by the rules (and reset, as nothing at
// NMI's port knows the flow) and never reaches IMDS. Without the flag the old connection still reaches
// IMDS: that is what the flag fixes.
//
// The node namespace runs the emulated world without MIC and an IMDS emulator behind a front on
// 169.254.169.254:80 that records each request's source; the pod is a namespace joined by a veth and
// holds one keep-alive connection (support/held-connection.ts). As on a real node (kube-proxy), the node
// tracks connections before NMI starts: a rule with a conntrack match is installed first.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiledBinary } from "../support/compiled-binary.ts";
import { HeldConnection } from "./support/held-connection.ts";
import type { LineProcess } from "./support/line-process.ts";
import { createNodeTopology, inNetns, type NodeTopology, netnsSkipReason } from "./support/netns-topology.ts";
import { PROBE_PORT, startNmiInNetns } from "./support/nmi-in-netns.ts";
import { NodeWorldClient } from "./support/node-world-client.ts";
import { curlFromPod, probeFromPod } from "./support/pod-requests.ts";

const skipReason = netnsSkipReason(["curl", "conntrack"]);
if (skipReason) console.warn(`skipping --enable-conntrack-deletion e2e (network namespaces): ${skipReason}`);

const IMDS_IP = "169.254.169.254";
const INSTANCE_PATH = "/metadata/instance?api-version=2021-02-01";

let topology: NodeTopology | undefined;
let world: NodeWorldClient | undefined;
let nmi: LineProcess | undefined;
let held: HeldConnection | undefined;
let dir = "";
let binary = "";

const pod = () => {
  if (!topology) throw new Error("no topology");
  return topology.pod("app");
};
const inNode = (argv: string[]) => inNetns(topology?.nodeNetns ?? "", argv, { allowFail: true });

/** Requests that reached the IMDS front from the pod's own address, i.e. not through NMI. */
async function podHits(): Promise<number> {
  return ((await world?.imdsHits()) ?? []).filter((hit) => hit.source === pod().ip).length;
}

/** The node's conntrack entries of TCP flows to IMDS's address and port. */
const imdsFlows = () =>
  inNode(["conntrack", "-L", "-p", "tcp", "--orig-dst", IMDS_IP, "--orig-port-dst", "80"])
    .stdout.split("\n")
    .filter((line) => line.includes(`src=${pod().ip}`));

function startNmi(extraArgs: string[]): LineProcess {
  if (!world || !topology) throw new Error("world not started");
  return startNmiInNetns({ nodeNetns: topology.nodeNetns, binary, world: world.info, dir, role: "nmi", extraArgs });
}

async function untilActive(timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = probeFromPod(pod(), PROBE_PORT);
    if (probe.status === 200 && probe.body === "Active") return;
    if (Date.now() > deadline) throw new Error(`NMI not Active (last ${probe.status} ${probe.body}):\n${nmi?.tail()}`);
    await Bun.sleep(50);
  }
}

/** Stops NMI (its rules stay, as on a restart) and removes the interception with `--cleanup`. */
async function stopAndCleanUp(): Promise<void> {
  await nmi?.stop("SIGKILL");
  nmi = undefined;
  const cleanup = startNmi(["--cleanup"]);
  expect(await cleanup.child.exited).toBe(0);
  expect(inNode(["iptables", "-w", "5", "-t", "nat", "-S", "PREROUTING"]).stdout).not.toContain("aad-metadata");
}

/**
 * A pod connection opened while nothing intercepts: its first request reaches IMDS directly (the front
 * records the pod's address) and the node tracks the flow.
 */
async function openDirectConnection(): Promise<HeldConnection> {
  const connection = await HeldConnection.open(pod(), IMDS_IP, 80);
  const hitsBefore = await podHits();
  expect(await connection.get(INSTANCE_PATH)).toEqual({ kind: "answer", status: 200 });
  expect(await podHits()).toBe(hitsBefore + 1);
  const flows = imdsFlows();
  expect(flows.some((line) => line.includes("ESTABLISHED"))).toBe(true);
  return connection;
}

/** With NMI's rules in place a NEW connection from the pod is intercepted: NMI answers, IMDS never sees the pod. */
async function expectNewConnectionsIntercepted(): Promise<void> {
  const hitsBefore = await podHits();
  const fresh = curlFromPod(pod(), `http://${IMDS_IP}${INSTANCE_PATH}`);
  expect(fresh.status).toBe(200);
  expect(await podHits()).toBe(hitsBefore);
}

describe.skipIf(skipReason !== null)("--enable-conntrack-deletion, compiled NMI in network namespaces", () => {
  beforeAll(async () => {
    binary = compiledBinary();
    dir = mkdtempSync(join(tmpdir(), "nmi-ct-e2e-"));
    topology = createNodeTopology("ect", ["app"]);
    world = await NodeWorldClient.start(topology.nodeNetns, binary, { mic: false });
    await world.send({ op: "pod", name: "app", namespace: "default", ip: pod().ip });
    // A node's existing rules, as kube-proxy's KUBE-FORWARD: a conntrack match turns connection tracking
    // on in the namespace, so flows are tracked from here on (a fresh namespace tracks nothing).
    for (const rule of [
      ["-N", "E2E-KUBE-FORWARD"],
      ["-A", "FORWARD", "-j", "E2E-KUBE-FORWARD"],
      ["-A", "E2E-KUBE-FORWARD", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"],
    ]) {
      inNetns(topology.nodeNetns, ["iptables", "-w", "5", ...rule]);
    }
  }, 60_000);

  afterAll(async () => {
    await held?.close();
    await nmi?.stop("SIGKILL");
    await world?.stop();
    topology?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("without the flag (what it fixes): a connection opened before NMI's rules still reaches IMDS directly afterwards", async () => {
    held = await openDirectConnection();
    nmi = startNmi([]);
    await untilActive();
    await expectNewConnectionsIntercepted();

    const hitsBefore = await podHits();
    expect(await held.get(INSTANCE_PATH)).toEqual({ kind: "answer", status: 200 });
    // The old flow bypassed NMI: IMDS saw the pod's own address again.
    expect(await podHits()).toBe(hitsBefore + 1);
    expect(nmi.lines.some((line) => line.includes("cleared conntrack entries"))).toBe(false);

    await held.close();
    held = undefined;
    await stopAndCleanUp();
  }, 40_000);

  test("with --enable-conntrack-deletion: the same kind of connection is cut once the rules are in, and its next request never reaches IMDS", async () => {
    held = await openDirectConnection();
    nmi = startNmi(["--enable-conntrack-deletion"]);
    await untilActive();
    await nmi.waitFor(/cleared conntrack entries to the metadata address/, 5000);
    await expectNewConnectionsIntercepted();

    const hitsBefore = await podHits();
    const next = await held.get(INSTANCE_PATH);
    // The flow is judged again by the DNAT: NMI's port has no such connection and resets it.
    expect(next.kind).not.toBe("answer");
    expect(next).toEqual({ kind: "error", code: "ECONNRESET" });
    expect(await podHits()).toBe(hitsBefore);
    await held.close();
    held = undefined;
  }, 40_000);
});
