// The compiled MIC against the emulated world: a pod's identity is assigned on its scale set with one
// GET and one PATCH, and its record goes Created → Assigned; deleting the pod makes the record
// Unassigned at once and removes the identity only after the grace period and only when no other pod
// on the scale set needs it; identities MIC does not own (assigned by a user, even one a pod used, or
// immutable) are never removed; a deleted node's records go without ARM calls; an identity removed by
// hand in ARM is put back by the drift reconcile.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startWorld, type World } from "../../emulators/world.ts";
import {
  armTargetOf,
  compiledBinary,
  eventsWithReason,
  type MicProcess,
  metricValue,
  startMic,
  userArmClient,
} from "../support/mic-process.ts";

const SCALE_SET = "aks-nodepool1-11111111-vmss";
const VM = "aks-agentpool-22222222-0";
const NODE0 = `${SCALE_SET}000000`;
const NODE1 = `${SCALE_SET}000001`;

let world: World;
let mic: MicProcess;

const recordsOf = (pod: string) => world.assignedIdentities().filter((r) => r.spec?.pod === pod);
const statusOf = (pod: string) => recordsOf(pod)[0]?.status?.status as string | undefined;
const lower = (ids: string[]) => ids.map((id) => id.toLowerCase());
const onNode = (node: string, identity: string) =>
  lower(world.armIdentitiesOf(node)).includes(world.identity(identity).resourceId.toLowerCase());
const patchesTo = (node: string, since: number) =>
  world.arm
    .calls()
    .filter(
      (c) =>
        c.method === "PATCH" &&
        c.at >= since &&
        c.resourceId?.toLowerCase() === world.node(node).computeResourceId.toLowerCase(),
    );

function bind(identity: string, selector = identity) {
  world.createAzureIdentity(identity);
  world.createAzureIdentityBinding(`${identity}-binding`, { azureIdentity: identity, selector });
}

let podIp = 10;
const createPod = (name: string, node: string, selector: string) =>
  world.createPod(name, { node, ip: `10.244.0.${podIp++}`, binding: selector });
const deletePod = (name: string) => world.kube.remove("v1", "Pod", "default", name);

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({
    scaleSets: [{ name: SCALE_SET, nodes: 2 }],
    vms: [VM],
    identities: ["app", "shared", "immutable", "user-owned", "drifting", "vm-app"],
    // Long enough for the Created state to be seen by polling.
    armLatencyMs: 300,
  });
  // An identity a user put on the scale set by hand, before MIC ever ran.
  const arm = await userArmClient(world);
  await arm.updateIdentities(armTargetOf(world, NODE0), { add: [world.identity("user-owned").resourceId], remove: [] });
  mic = await startMic(world, binary, {
    instance: "mic-lifecycle",
    extraArgs: ["--immutable-user-msis", world.identity("immutable").clientId],
  });
  await world.waitFor(async () => (await mic.health())?.body === "Active", 10_000, "MIC active");
}, 60_000);

afterAll(async () => {
  await mic?.stop();
  await world?.stop();
});

describe("MIC lifecycle (compiled binary)", () => {
  test("a pod's record goes Created → Assigned and its identity appears on the scale set", async () => {
    bind("app");
    const seen: string[] = [];
    const callsBefore = world.arm.calls().length;
    createPod("app-pod", NODE0, "app");
    await world.waitFor(
      () => {
        const status = statusOf("app-pod");
        if (status && seen.at(-1) !== status) seen.push(status);
        return status === "Assigned";
      },
      10_000,
      "app-pod Assigned",
    );
    expect(seen).toEqual(["Created", "Assigned"]);
    expect(onNode(NODE0, "app")).toBe(true);
    // One GET, then one PATCH built from it; after the PATCH only its long-running operation's polls
    // and final read (later GETs would be drift passes, which need an Assigned record first).
    const scaleSet = world.node(NODE0).computeResourceId.toLowerCase();
    const calls = world.arm
      .calls()
      .slice(callsBefore)
      .map((c) =>
        c.resourceId?.toLowerCase() === scaleSet ? c.method : /\/operations\//.test(c.path) ? "poll" : "other",
      );
    const patchAt = calls.indexOf("PATCH");
    expect(calls.slice(0, patchAt)).toEqual(["GET"]);
    expect(calls.filter((c) => c === "PATCH")).toHaveLength(1);
    expect(calls[patchAt + 1]).toBe("poll");
    const record = recordsOf("app-pod")[0];
    expect(record?.spec.nodename).toBe(NODE0);
    expect(record?.metadata.labels?.nodename).toBe(NODE0);
    // Events are written in the background, after the status.
    await world.waitFor(
      () =>
        eventsWithReason(world, "binding applied").some(
          (e) => e.involvedObject?.name === "app-binding" && e.type === "Normal",
        ),
      5_000,
      "binding applied event",
    );
    // MIC's own view (informer, write results) catches up a moment after the API server's.
    const metrics = await world.waitFor(
      async () => {
        const text = await mic.metrics();
        const observed = metricValue(text, "aadpodidentity_mic_pod_assignment_duration_seconds_count") ?? 0;
        const depth = metricValue(text, "aadpodidentity_mic_target_queue_depth", { target: SCALE_SET });
        return observed >= 1 && depth === 0 ? text : undefined;
      },
      5_000,
      "assignment metrics",
    );
    expect(metricValue(metrics, "aadpodidentity_mic_leader")).toBe(1);
    expect(
      metricValue(metrics, "aadpodidentity_cloud_provider_operations_total", {
        operation_type: "vmss_update",
        result: "success",
      }),
    ).toBeGreaterThanOrEqual(1);
  }, 20_000);

  test("deleting the pod makes its record Unassigned at once and removes its identity after the grace period", async () => {
    const deletedAt = Date.now();
    deletePod("app-pod");
    // NMI must stop serving the pod's identity now, not once the grace period and the PATCH are over.
    await world.waitFor(() => statusOf("app-pod") === "Unassigned", 10_000, "app-pod Unassigned");
    expect(Date.now() - deletedAt).toBeLessThan(1000);
    expect(onNode(NODE0, "app")).toBe(true);
    await world.waitFor(() => recordsOf("app-pod").length === 0 && !onNode(NODE0, "app"), 10_000, "app removed");
    const removals = patchesTo(NODE0, deletedAt);
    expect(removals.length).toBeGreaterThanOrEqual(1);
    expect((removals[0]?.at ?? 0) - deletedAt).toBeGreaterThanOrEqual(1000);
    expect(onNode(NODE0, "user-owned")).toBe(true);
  }, 20_000);

  test("an identity still used by another pod on the same scale set stays", async () => {
    bind("shared");
    createPod("shared-a", NODE0, "shared");
    createPod("shared-b", NODE1, "shared");
    await world.waitFor(() => statusOf("shared-a") === "Assigned" && statusOf("shared-b") === "Assigned");
    const deletedAt = Date.now();
    deletePod("shared-a");
    await world.waitFor(() => recordsOf("shared-a").length === 0, 10_000, "shared-a record deleted");
    // Nothing may happen now, which cannot be polled for: wait out the grace period and a drift pass.
    await Bun.sleep(2500);
    expect(onNode(NODE1, "shared")).toBe(true);
    expect(statusOf("shared-b")).toBe("Assigned");
    expect(patchesTo(NODE0, deletedAt)).toEqual([]);
  }, 20_000);

  test("a pre-existing user identity and an immutable one are never removed", async () => {
    bind("immutable");
    createPod("immutable-pod", NODE1, "immutable");
    await world.waitFor(() => statusOf("immutable-pod") === "Assigned", 10_000, "immutable-pod Assigned");
    expect(onNode(NODE0, "immutable")).toBe(true);
    deletePod("immutable-pod");
    await world.waitFor(() => recordsOf("immutable-pod").length === 0, 10_000, "immutable-pod record deleted");
    await Bun.sleep(2500);
    expect(onNode(NODE0, "immutable")).toBe(true);
    expect(onNode(NODE0, "user-owned")).toBe(true);
  }, 20_000);

  test("a pre-existing user identity that a pod also used stays when the pod goes", async () => {
    bind("user-owned");
    const since = Date.now();
    createPod("user-owned-pod", NODE1, "user-owned");
    await world.waitFor(() => statusOf("user-owned-pod") === "Assigned", 10_000, "user-owned-pod Assigned");
    // Already on the scale set: nothing to PATCH, and the record says the identity is the user's.
    expect(recordsOf("user-owned-pod")[0]?.metadata.annotations).toMatchObject({
      "aadpodidentity.k8s.io/preexisting-on-target": "true",
    });
    deletePod("user-owned-pod");
    await world.waitFor(() => recordsOf("user-owned-pod").length === 0, 10_000, "user-owned-pod record deleted");
    // Past the grace period (1 s) and a drift pass: still there, and MIC never PATCHed the scale set.
    await Bun.sleep(2500);
    expect(onNode(NODE0, "user-owned")).toBe(true);
    expect(patchesTo(NODE0, since)).toEqual([]);
  }, 20_000);

  test("an identity removed by hand in ARM is put back by the drift reconcile", async () => {
    bind("drifting");
    createPod("drifting-pod", NODE1, "drifting");
    await world.waitFor(() => statusOf("drifting-pod") === "Assigned", 10_000, "drifting-pod Assigned");
    const arm = await userArmClient(world);
    await arm.updateIdentities(armTargetOf(world, NODE1), {
      add: [],
      remove: [world.identity("drifting").resourceId],
    });
    expect(onNode(NODE1, "drifting")).toBe(false);
    await world.waitFor(() => onNode(NODE1, "drifting"), 10_000, "drifting re-assigned");
    expect(statusOf("drifting-pod")).toBe("Assigned");
  }, 20_000);

  test("a deleted node's records are deleted without any ARM call and a 'binding removed' event", async () => {
    bind("vm-app");
    createPod("vm-pod", VM, "vm-app");
    await world.waitFor(() => statusOf("vm-pod") === "Assigned", 10_000, "vm-pod Assigned");
    expect(onNode(VM, "vm-app")).toBe(true);
    const deletedAt = Date.now();
    world.kube.remove("v1", "Node", undefined, VM);
    await world.waitFor(() => recordsOf("vm-pod").length === 0, 10_000, "vm-pod record deleted");
    expect(patchesTo(VM, deletedAt)).toEqual([]);
    await world.waitFor(
      () =>
        eventsWithReason(world, "binding removed").some(
          (e) => e.involvedObject?.name === "vm-app-binding" && e.type === "Normal",
        ),
      5_000,
      "binding removed event",
    );
  }, 20_000);
});
