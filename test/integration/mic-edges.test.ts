// The compiled MIC at the edges of §4 and the fixes: a scale set being deleted is refused
// (no PATCH while ARM says Deleting, other scale sets proceed, served once it is back); a completed
// pod (Succeeded) gives its identity back; an invalid AzureIdentity gets a Warning event and is
// skipped while a valid one in the same batch is assigned; record names stay unique and within 253
// characters (same identity name in two namespaces, very long pod names); the type-upgrade flag,
// accepted for compatibility, says clearly that it does nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { azureIdentityObject } from "../../emulators/world/objects.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { hashedAssignedIdentityName } from "../../src/roles/mic/assigned-identity-name.ts";
import { compiledBinary, eventsWithReason, type MicProcess, startMic } from "../support/mic-process.ts";

const SS_DELETING = "aks-doomed-55555555-vmss";
const SS_OK = "aks-steady-66666666-vmss";
const NODE_DELETING = `${SS_DELETING}000000`;
const NODE_OK = `${SS_OK}000000`;

let world: World;
let mic: MicProcess;

const recordsOf = (pod: string) => world.assignedIdentities().filter((r) => r.spec?.pod === pod);
const statusOf = (pod: string) => recordsOf(pod)[0]?.status?.status as string | undefined;
const onNode = (node: string, identity: string) =>
  world
    .armIdentitiesOf(node)
    .map((id) => id.toLowerCase())
    .includes(world.identity(identity).resourceId.toLowerCase());
const callsTo = (node: string, method: string) =>
  world.arm
    .calls()
    .filter(
      (c) => c.method === method && c.resourceId?.toLowerCase() === world.node(node).computeResourceId.toLowerCase(),
    );

function bind(identity: string, selector = identity, namespace = "default", name = identity) {
  world.createAzureIdentity(identity, { name, namespace });
  world.createAzureIdentityBinding(`${name}-binding`, { azureIdentity: name, selector, namespace });
}

let podIp = 10;
const createPod = (name: string, node: string, selector: string) =>
  world.createPod(name, { node, ip: `10.244.5.${podIp++}`, binding: selector });

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({
    scaleSets: [
      { name: SS_DELETING, nodes: 1 },
      { name: SS_OK, nodes: 1 },
    ],
    identities: ["doomed-app", "steady-app", "job-app", "valid-app", "dup-a", "dup-b", "long-app"],
  });
  mic = await startMic(world, binary, { instance: "mic-edges" });
  await world.waitFor(async () => (await mic.health())?.body === "Active", 10_000, "MIC active");
}, 60_000);

afterAll(async () => {
  await mic?.stop();
  await world?.stop();
});

describe("MIC edge cases (compiled binary)", () => {
  test("a scale set being deleted is refused: no PATCH while Deleting, the other scale set proceeds, and it is served once back", async () => {
    world.arm.setProvisioningState(world.node(NODE_DELETING).computeResourceId, "Deleting");
    bind("doomed-app");
    bind("steady-app");
    createPod("doomed-pod", NODE_DELETING, "doomed-app");
    createPod("steady-pod", NODE_OK, "steady-app");
    await world.waitFor(() => statusOf("steady-pod") === "Assigned", 10_000, "steady-pod Assigned");
    // MIC looked at the doomed scale set (GET) and backed off; give it time for a retry or two.
    await world.waitFor(() => callsTo(NODE_DELETING, "GET").length >= 2, 10_000, "GETs of the doomed scale set");
    expect(callsTo(NODE_DELETING, "PATCH")).toEqual([]);
    expect(onNode(NODE_DELETING, "doomed-app")).toBe(false);
    expect(statusOf("doomed-pod")).not.toBe("Assigned");

    world.arm.setProvisioningState(world.node(NODE_DELETING).computeResourceId, "Succeeded");
    await world.waitFor(() => statusOf("doomed-pod") === "Assigned", 15_000, "doomed-pod Assigned once back");
    expect(onNode(NODE_DELETING, "doomed-app")).toBe(true);
  }, 25_000);

  test("a pod that completes (Succeeded) no longer holds its identity: record deleted, identity removed", async () => {
    bind("job-app");
    const job = createPod("job-pod", NODE_OK, "job-app");
    await world.waitFor(() => statusOf("job-pod") === "Assigned", 10_000, "job-pod Assigned");
    expect(onNode(NODE_OK, "job-app")).toBe(true);
    world.kube.updateStatus({ ...job, status: { ...(job.status as object), phase: "Succeeded" } });
    await world.waitFor(
      () => recordsOf("job-pod").length === 0 && !onNode(NODE_OK, "job-app"),
      10_000,
      "job-pod released",
    );
    // The pod object itself is still there: only its phase let the identity go.
    expect(world.kube.get("v1", "Pod", "default", "job-pod")).toBeDefined();
  }, 20_000);

  test("an invalid AzureIdentity gets a Warning event and is skipped; a valid one in the same batch is assigned", async () => {
    const broken = azureIdentityObject("broken-app", "default", world.identity("valid-app"));
    world.kube.create({ ...broken, spec: { ...(broken.spec as object), resourceID: "not-an-arm-id" } });
    world.createAzureIdentityBinding("broken-app-binding", { azureIdentity: "broken-app", selector: "batch" });
    world.createAzureIdentity("valid-app");
    world.createAzureIdentityBinding("valid-app-binding", { azureIdentity: "valid-app", selector: "batch" });
    createPod("batch-pod", NODE_OK, "batch");
    await world.waitFor(() => statusOf("batch-pod") === "Assigned", 10_000, "batch-pod Assigned");
    expect(recordsOf("batch-pod").map((r) => r.spec?.azureIdentityRef?.metadata?.name)).toEqual(["valid-app"]);
    const warning = await world.waitFor(
      () =>
        eventsWithReason(world, "invalid identity").find(
          (e) => e.involvedObject?.kind === "AzureIdentity" && e.involvedObject?.name === "broken-app",
        ),
      5_000,
      "invalid identity event",
    );
    expect(warning.type).toBe("Warning");
    expect(String(warning.message)).toContain("resourceID");
    // MIC keeps going: it still serves pods created afterwards.
    createPod("after-broken", NODE_OK, "batch");
    await world.waitFor(() => statusOf("after-broken") === "Assigned", 10_000, "after-broken Assigned");
  }, 20_000);

  test("record names stay unique and ≤253 characters: one identity name in two namespaces, and very long pod names", async () => {
    for (const name of ["team-a", "team-b"])
      world.kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    bind("dup-a", "dup", "team-a", "dup");
    bind("dup-b", "dup", "team-b", "dup");
    createPod("dup-pod", NODE_OK, "dup");
    await world.waitFor(
      () => recordsOf("dup-pod").length === 2 && recordsOf("dup-pod").every((r) => r.status?.status === "Assigned"),
      10_000,
      "dup-pod's two records Assigned",
    );
    const names = recordsOf("dup-pod")
      .map((r) => r.metadata?.name as string)
      .sort();
    // The first by identity namespace keeps aad-pod-identity's name; the other gets the hashed form.
    expect(names).toEqual(
      [
        "dup-pod-default-dup",
        hashedAssignedIdentityName({
          podNamespace: "default",
          podName: "dup-pod",
          identityNamespace: "team-b",
          identityName: "dup",
        }),
      ].sort(),
    );
    expect(onNode(NODE_OK, "dup-a") && onNode(NODE_OK, "dup-b")).toBe(true);

    bind("long-app");
    const longName = `long-${"x".repeat(240)}`;
    createPod(longName, NODE_OK, "long-app");
    await world.waitFor(() => statusOf(longName) === "Assigned", 10_000, "long pod Assigned");
    const name = recordsOf(longName)[0]?.metadata?.name as string;
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name).toBe(
      hashedAssignedIdentityName({
        podNamespace: "default",
        podName: longName,
        identityNamespace: "default",
        identityName: "long-app",
      }),
    );
  }, 20_000);

  test("--enable-type-upgrade (on by default) is accepted and MIC warns that it does nothing", () => {
    expect(mic.logs()).toContain("--enable-type-upgrade has no effect");
  });
});
