// The compiled MIC following changes: a pod that moves to another node (a VM), a pod whose binding
// label changes, an AzureIdentity edited in place; and MIC surviving dropped watches and a 410 Gone.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { startWorld, type World } from "../../emulators/world.ts";
import { API_VERSION } from "../../src/kube/crds.ts";
import { compiledBinary, type MicProcess, startMic } from "../support/mic-process.ts";

const SCALE_SET = "aks-nodepool1-55555555-vmss";
const VM = "aks-agentpool-66666666-0";
const NODE0 = `${SCALE_SET}000000`;

let world: World;
let mic: MicProcess;

const recordsOf = (pod: string) => world.assignedIdentities().filter((r) => r.spec?.pod === pod);
const assigned = (pod: string, identity: string) =>
  recordsOf(pod).some((r) => r.status?.status === "Assigned" && r.spec?.azureIdentityRef?.metadata?.name === identity);
const onNode = (node: string, identity: string) =>
  world
    .armIdentitiesOf(node)
    .map((id) => id.toLowerCase())
    .includes(world.identity(identity).resourceId.toLowerCase());

function bind(identity: string) {
  world.createAzureIdentity(identity);
  world.createAzureIdentityBinding(`${identity}-binding`, { azureIdentity: identity, selector: identity });
}

let podIp = 30;
const createPod = (name: string, node: string, selector: string) =>
  world.createPod(name, { node, ip: `10.244.2.${podIp++}`, binding: selector });

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({
    scaleSets: [{ name: SCALE_SET, nodes: 1 }],
    vms: [VM],
    identities: ["mover", "label-x", "label-y", "edit-1", "edit-2", "after-drop", "after-gone", "rotated"],
  });
  mic = await startMic(world, binary, { instance: "mic-changes" });
  await world.waitFor(async () => (await mic.health())?.body === "Active", 10_000, "MIC active");
}, 60_000);

afterAll(async () => {
  await mic?.stop();
  await world?.stop();
});

describe("MIC following changes (compiled binary)", () => {
  test("a pod that moves to another node gets its identity there, and it leaves the old scale set", async () => {
    bind("mover");
    createPod("mover-pod", NODE0, "mover");
    await world.waitFor(() => assigned("mover-pod", "mover") && onNode(NODE0, "mover"), 10_000, "on the scale set");
    // Pods do not change nodes in place: the pod is recreated with the same name elsewhere.
    world.kube.remove("v1", "Pod", "default", "mover-pod");
    await world.waitFor(() => !world.kube.get("v1", "Pod", "default", "mover-pod"), 10_000, "old pod gone");
    createPod("mover-pod", VM, "mover");
    await world.waitFor(
      () => onNode(VM, "mover") && recordsOf("mover-pod").every((r) => r.spec?.nodename === VM),
      10_000,
      "on the VM",
    );
    await world.waitFor(() => assigned("mover-pod", "mover"), 10_000, "Assigned on the VM");
    await world.waitFor(() => !onNode(NODE0, "mover"), 10_000, "gone from the scale set");
  }, 20_000);

  test("a label change swaps the pod's identity", async () => {
    bind("label-x");
    bind("label-y");
    createPod("relabel-pod", NODE0, "label-x");
    await world.waitFor(() => assigned("relabel-pod", "label-x"), 10_000, "label-x Assigned");
    world.kube.patch("v1", "Pod", "default", "relabel-pod", { metadata: { labels: { aadpodidbinding: "label-y" } } });
    await world.waitFor(() => assigned("relabel-pod", "label-y") && onNode(NODE0, "label-y"), 10_000, "label-y");
    await world.waitFor(
      () =>
        !onNode(NODE0, "label-x") &&
        !recordsOf("relabel-pod").some((r) => r.spec?.azureIdentityRef?.metadata?.name === "label-x"),
      10_000,
      "label-x gone",
    );
  }, 20_000);

  test("an AzureIdentity edited in place moves the pod to the new ARM identity", async () => {
    world.createAzureIdentity("edit-1", { name: "editable" });
    world.createAzureIdentityBinding("editable-binding", { azureIdentity: "editable", selector: "editable" });
    createPod("edit-pod", NODE0, "editable");
    await world.waitFor(() => assigned("edit-pod", "editable") && onNode(NODE0, "edit-1"), 10_000, "edit-1");
    const current = world.kube.get(API_VERSION, "AzureIdentity", "default", "editable");
    const next = world.identity("edit-2");
    world.kube.update({ ...current, spec: { ...current?.spec, resourceID: next.resourceId, clientID: next.clientId } });
    await world.waitFor(
      () =>
        onNode(NODE0, "edit-2") &&
        recordsOf("edit-pod").some(
          (r) =>
            r.status?.status === "Assigned" &&
            String(r.spec?.azureIdentityRef?.spec?.resourceID).toLowerCase() === next.resourceId.toLowerCase(),
        ),
      10_000,
      "edit-2 Assigned",
    );
    await world.waitFor(() => !onNode(NODE0, "edit-1"), 10_000, "edit-1 removed");
  }, 20_000);

  test("MIC survives dropped watches: a pod created meanwhile is assigned", async () => {
    bind("after-drop");
    world.kube.dropWatches();
    createPod("after-drop-pod", NODE0, "after-drop");
    await world.waitFor(() => assigned("after-drop-pod", "after-drop"), 15_000, "after-drop Assigned");
    expect(onNode(NODE0, "after-drop")).toBe(true);
  }, 20_000);

  test("MIC survives a 410 Gone (history compacted): it re-lists and assigns", async () => {
    bind("after-gone");
    world.kube.compactHistory();
    world.kube.dropWatches();
    createPod("after-gone-pod", NODE0, "after-gone");
    await world.waitFor(() => assigned("after-gone-pod", "after-gone"), 15_000, "after-gone Assigned");
    expect(onNode(NODE0, "after-gone")).toBe(true);
    await world.waitFor(() => mic.logs().includes("410 Gone"), 5_000, "the 410 logged");
    expect((await mic.health())?.body).toBe("Active");
  }, 20_000);

  test("a changed azure.json is picked up: ARM calls use the new service principal", async () => {
    const clientId = "3c0ffee0-0000-4000-8000-000000000001";
    const clientSecret = "rotated-secret";
    world.aad.addApp(world.tenantId, clientId, { secret: clientSecret });
    const config = JSON.parse(readFileSync(world.azureJsonPath, "utf8"));
    const changedAt = Date.now();
    writeFileSync(
      world.azureJsonPath,
      JSON.stringify({ ...config, aadClientId: clientId, aadClientSecret: clientSecret }),
    );
    await world.waitFor(() => mic.logs().includes("cloud config changed"), 10_000, "reload logged");
    bind("rotated");
    createPod("rotated-pod", NODE0, "rotated");
    await world.waitFor(() => assigned("rotated-pod", "rotated"), 10_000, "rotated Assigned");
    const tokenRequests = world.aad.requests().filter((r) => r.at >= changedAt && r.status === 200);
    expect(tokenRequests.map((r) => r.clientId)).toContain(clientId);
  }, 20_000);
});
