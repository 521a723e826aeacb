// The compiled MIC and the cluster identity (azure.json `userAssignedIdentityID`): like an
// --immutable-user-msis identity it is never removed from a scale set, even when MIC added it for a
// pod that is gone; and when azure.json changes, the new cluster identity is protected from then on,
// including one whose removal was already waiting out the grace period.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { startWorld, type World } from "../../emulators/world.ts";
import { compiledBinary, type MicProcess, startMic } from "../support/mic-process.ts";

const SCALE_SET = "aks-nodepool1-55555555-vmss";
const NODE0 = `${SCALE_SET}000000`;
/** Long enough to change azure.json while a removal waits, short enough to keep the test quick. */
const GRACE_MS = 2500;

let world: World;
let mic: MicProcess;

const recordsOf = (pod: string) => world.assignedIdentities().filter((r) => r.spec?.pod === pod);
const statusOf = (pod: string) => recordsOf(pod)[0]?.status?.status as string | undefined;
const onScaleSet = (identity: string) =>
  world
    .armIdentitiesOf(NODE0)
    .map((id) => id.toLowerCase())
    .includes(world.identity(identity).resourceId.toLowerCase());
const removalsSince = (since: number) =>
  world.arm
    .calls()
    .filter(
      (c) =>
        c.method === "PATCH" &&
        c.at >= since &&
        c.resourceId?.toLowerCase() === world.node(NODE0).computeResourceId.toLowerCase(),
    );

function setClusterIdentity(clientId: string) {
  const config = JSON.parse(readFileSync(world.azureJsonPath, "utf8"));
  writeFileSync(world.azureJsonPath, JSON.stringify({ ...config, userAssignedIdentityID: clientId }));
}

let podIp = 10;
function podUsing(identity: string, pod: string) {
  world.createAzureIdentity(identity);
  world.createAzureIdentityBinding(`${identity}-binding`, { azureIdentity: identity, selector: identity });
  world.createPod(pod, { node: NODE0, ip: `10.244.7.${podIp++}`, binding: identity });
}

beforeAll(async () => {
  world = await startWorld({
    scaleSets: [{ name: SCALE_SET, nodes: 1 }],
    identities: ["cluster", "next-cluster", "plain"],
  });
  // The cluster identity as AKS writes it (a client ID), in upper case: compared case-insensitively.
  setClusterIdentity(world.identity("cluster").clientId.toUpperCase());
  mic = await startMic(world, compiledBinary(), {
    instance: "mic-cluster-identity",
    extraArgs: ["--unassign-grace-period", `${GRACE_MS}ms`],
  });
  await world.waitFor(async () => (await mic.health())?.body === "Active", 10_000, "MIC active");
}, 60_000);

afterAll(async () => {
  await mic?.stop();
  await world?.stop();
});

describe("MIC and the cluster identity (compiled binary)", () => {
  test("an identity no cluster setting protects is removed after the grace period (the control)", async () => {
    podUsing("plain", "plain-pod");
    await world.waitFor(() => statusOf("plain-pod") === "Assigned", 10_000, "plain-pod Assigned");
    world.kube.remove("v1", "Pod", "default", "plain-pod");
    await world.waitFor(
      () => !onScaleSet("plain") && recordsOf("plain-pod").length === 0,
      GRACE_MS + 5_000,
      "plain removed, record deleted",
    );
  }, 20_000);

  test("the cluster identity from azure.json stays on the scale set after the pod that needed it goes", async () => {
    podUsing("cluster", "cluster-pod");
    await world.waitFor(() => statusOf("cluster-pod") === "Assigned", 10_000, "cluster-pod Assigned");
    expect(onScaleSet("cluster")).toBe(true);
    const deletedAt = Date.now();
    world.kube.remove("v1", "Pod", "default", "cluster-pod");
    await world.waitFor(() => recordsOf("cluster-pod").length === 0, 10_000, "cluster-pod record deleted");
    await Bun.sleep(GRACE_MS + 1000);
    expect(onScaleSet("cluster")).toBe(true);
    expect(removalsSince(deletedAt)).toEqual([]);
  }, 20_000);

  test("a new cluster identity in a changed azure.json is protected at once, even with its removal already pending", async () => {
    podUsing("next-cluster", "next-pod");
    await world.waitFor(() => statusOf("next-pod") === "Assigned", 10_000, "next-pod Assigned");
    const deletedAt = Date.now();
    world.kube.remove("v1", "Pod", "default", "next-pod");
    // Not yet protected: the record stops granting and the removal waits out the grace period.
    await world.waitFor(() => statusOf("next-pod") === "Unassigned", 5_000, "next-pod Unassigned");
    setClusterIdentity(world.identity("next-cluster").clientId);
    await world.waitFor(() => mic.logs().includes("cloud config changed"), 5_000, "reload logged");
    await world.waitFor(() => recordsOf("next-pod").length === 0, 5_000, "next-pod record deleted");
    expect(Date.now() - deletedAt).toBeLessThan(GRACE_MS);
    await Bun.sleep(Math.max(0, deletedAt + GRACE_MS + 1000 - Date.now()));
    expect(onScaleSet("next-cluster")).toBe(true);
    expect(removalsSince(deletedAt)).toEqual([]);
  }, 20_000);
});
