// The COMPILED pod-identity binary in managed mode (`--role managed`) on a node made of network
// namespaces, with real iptables (root only). No MIC: identities are put on the node's scale set by
// hand through ARM, as `az vmss identity assign` does. Checks, from the pods: a pod with a binding and
// identity in its own namespace gets that identity's token; a pod in another namespace carrying the same
// selector label is refused; an identity bound but not on the scale set gets 403 telling the user to
// assign it to the scale set, and once assigned by hand the token flows.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiledBinary } from "../support/compiled-binary.ts";
import type { LineProcess } from "./support/line-process.ts";
import { createNodeTopology, type NodeTopology, netnsSkipReason } from "./support/netns-topology.ts";
import { PROBE_PORT, startNmiInNetns } from "./support/nmi-in-netns.ts";
import { NodeWorldClient } from "./support/node-world-client.ts";
import { curlFromPod, probeFromPod, sdkTokenFromPod, tokenUrl } from "./support/pod-requests.ts";

const skipReason = netnsSkipReason(["curl"]);
if (skipReason) console.warn(`skipping compiled managed-mode NMI e2e (network namespaces): ${skipReason}`);

const RESOURCE = "https://vault.azure.net";
const SCOPE = `${RESOURCE}/.default`;

let topology: NodeTopology | undefined;
let world: NodeWorldClient | undefined;
let nmi: LineProcess | undefined;
let dir = "";

const pod = (name: string) => {
  if (!topology) throw new Error("no topology");
  return topology.pod(name);
};
const identity = (name: string) => {
  const found = world?.info.identities[name];
  if (!found) throw new Error(`no identity ${name}`);
  return found;
};

async function tokenHitCount(): Promise<number> {
  return ((await world?.imdsHits()) ?? []).filter((hit) => hit.path.includes("/identity/oauth2/token")).length;
}
async function podSourcedHits() {
  const podIps = new Set(Object.values(topology?.pods ?? {}).map((p) => p.ip));
  return ((await world?.imdsHits()) ?? []).filter((hit) => podIps.has(hit.source));
}

describe.skipIf(skipReason !== null)("compiled NMI in managed mode in network namespaces", () => {
  beforeAll(async () => {
    const binary = compiledBinary();
    dir = mkdtempSync(join(tmpdir(), "managed-e2e-"));
    topology = createNodeTopology("e2m", ["app", "intruder", "unassigned"], 245);
    world = await NodeWorldClient.start(topology.nodeNetns, binary, { mic: false });
    await world.send({ op: "bind", namespace: "team-a", identity: "app-identity", selector: "app" });
    await world.send({ op: "bind", namespace: "team-a", identity: "other-identity", selector: "later" });
    await world.send({ op: "pod", name: "app", namespace: "team-a", ip: pod("app").ip, binding: "app" });
    // Same selector label, but team-b has no binding or identity of its own.
    await world.send({ op: "pod", name: "intruder", namespace: "team-b", ip: pod("intruder").ip, binding: "app" });
    await world.send({
      op: "pod",
      name: "unassigned",
      namespace: "team-a",
      ip: pod("unassigned").ip,
      binding: "later",
    });
    await world.send({ op: "assignToScaleSet", identity: "app-identity" });
    expect(await world.send({ op: "scaleSetIdentities" })).toEqual([identity("app-identity").resourceId]);

    nmi = startNmiInNetns({ nodeNetns: topology.nodeNetns, binary, world: world.info, dir, role: "managed" });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const probe = probeFromPod(pod("app"), PROBE_PORT);
      if (probe.status === 200 && probe.body === "Active") break;
      if (Date.now() > deadline)
        throw new Error(`managed NMI not Active (${probe.status} ${probe.body}):\n${nmi.tail()}`);
      await Bun.sleep(100);
    }
  }, 60_000);

  afterAll(async () => {
    await nmi?.stop("SIGKILL");
    await world?.stop();
    topology?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a pod with a binding and identity in its namespace gets that identity's token (identity assigned outside the cluster)", async () => {
    const answer = sdkTokenFromPod(pod("app"), SCOPE);
    if (!answer.ok) throw new Error(`${answer.error}\n${nmi?.tail()}`);
    expect(answer.claims.appid).toBe(identity("app-identity").clientId);
    expect(answer.claims.xms_mirid).toBe(identity("app-identity").resourceId);
    expect(await podSourcedHits()).toEqual([]);
  }, 20_000);

  test("a pod in another namespace with the same selector label is refused, even naming the identity, and nothing reaches IMDS", async () => {
    const tokensBefore = await tokenHitCount();
    const plain = curlFromPod(pod("intruder"), tokenUrl(RESOURCE));
    expect(plain.status).toBe(404);
    expect(plain.body).toContain("namespace team-b");
    const named = curlFromPod(pod("intruder"), tokenUrl(RESOURCE, { client_id: identity("app-identity").clientId }));
    expect(named.status).toBe(404);
    expect(await tokenHitCount()).toBe(tokensBefore);
    expect(await podSourcedHits()).toEqual([]);
  }, 20_000);

  test("an identity bound but not on the scale set gets 403 saying to assign it to the scale set; assigned by hand, it works", async () => {
    const other = identity("other-identity");
    const refused = curlFromPod(pod("unassigned"), tokenUrl(RESOURCE), { Metadata: "true" }, 15);
    expect(refused.status).toBe(403);
    const description = String(JSON.parse(refused.body).error_description);
    expect(description).toContain("scale set");
    expect(description).toContain("az vmss identity assign");
    expect(description).toContain(other.resourceId);
    // The application sees the same advice in its error.
    const sdk = sdkTokenFromPod(pod("unassigned"), SCOPE);
    expect(sdk.ok).toBe(false);
    if (!sdk.ok) expect(sdk.error).toContain("az vmss identity assign");

    await world?.send({ op: "assignToScaleSet", identity: "other-identity" });
    const answer = sdkTokenFromPod(pod("unassigned"), SCOPE);
    if (!answer.ok) throw new Error(`${answer.error}\n${nmi?.tail()}`);
    expect(answer.claims.appid).toBe(other.clientId);
    expect(await podSourcedHits()).toEqual([]);
  }, 30_000);
});
