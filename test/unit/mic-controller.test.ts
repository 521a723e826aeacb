// The controller against in-memory fakes of ARM (latency, 429, refused identities) and of the
// API server (resourceVersions, finalizers, watch echoes of every write).
import { afterEach, describe, expect, test } from "bun:test";
import type { AssignedState, AzureAssignedIdentity } from "../../src/kube/crds.ts";
import { MicController, type MicControllerOptions } from "../../src/roles/mic/controller.ts";
import type { PodInfo } from "../../src/roles/mic/desired-state.ts";
import type { ArmTarget } from "../../src/roles/mic/node-target.ts";
import {
  type ArmIdentityPort,
  ArmPortError,
  type IdentityDelta,
  MAX_IDENTITIES_PER_PATCH,
  type MicEvent,
  type RecordStorePort,
  type TargetIdentities,
} from "../../src/roles/mic/ports.ts";
import { until } from "../support/until.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const rid = (name: string) =>
  `/subscriptions/sub/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

interface ArmCall {
  op: "get" | "patch";
  key: string;
  at: number;
  delta?: IdentityDelta;
}

class FakeArm implements ArmIdentityPort {
  readonly identities = new Map<string, string[]>();
  readonly calls: ArmCall[] = [];
  latencyMs = 5;
  /** Next call to that target answers 429 with this Retry-After. */
  readonly throttleOnce = new Map<string, number>();
  /** Lower-cased IDs ARM refuses with LinkedAuthorizationFailed. */
  readonly refused = new Set<string>();
  readonly provisioningState = new Map<string, string>();

  async getIdentity(target: ArmTarget): Promise<TargetIdentities> {
    this.calls.push({ op: "get", key: target.key, at: Date.now() });
    await sleep(this.latencyMs);
    this.maybeThrottle(target);
    return this.state(target);
  }

  async updateIdentities(target: ArmTarget, delta: IdentityDelta): Promise<TargetIdentities> {
    this.calls.push({
      op: "patch",
      key: target.key,
      at: Date.now(),
      delta: { add: [...delta.add], remove: [...delta.remove] },
    });
    if (delta.add.length + delta.remove.length > MAX_IDENTITIES_PER_PATCH)
      throw new Error("exceed limit '150' in one request");
    await sleep(this.latencyMs);
    this.maybeThrottle(target);
    const bad = [...delta.add, ...delta.remove].filter((id) => this.refused.has(id.toLowerCase()));
    if (bad.length > 0)
      throw new ArmPortError({
        kind: "identity",
        code: "LinkedAuthorizationFailed",
        identityIds: bad,
        message: `The client has permission to perform action on scope, however the linked subscription was not found or the userAssignedIdentities '${bad.join(",")}' are not authorized`,
      });
    const removed = new Set(delta.remove.map((id) => id.toLowerCase()));
    const next = (this.identities.get(target.key) ?? []).filter((id) => !removed.has(id.toLowerCase()));
    for (const id of delta.add) if (!next.some((x) => x.toLowerCase() === id.toLowerCase())) next.push(id);
    this.identities.set(target.key, next);
    return this.state(target);
  }

  private state(target: ArmTarget): TargetIdentities {
    const ids = [...(this.identities.get(target.key) ?? [])];
    return {
      userAssignedIdentities: ids,
      type: ids.length > 0 ? "UserAssigned" : "None",
      provisioningState: this.provisioningState.get(target.key) ?? "Succeeded",
    };
  }

  has(key: string, id: string): boolean {
    return (this.identities.get(key) ?? []).some((x) => x.toLowerCase() === id.toLowerCase());
  }

  patches(key?: string): ArmCall[] {
    return this.calls.filter((c) => c.op === "patch" && (key === undefined || c.key === key));
  }

  private maybeThrottle(target: ArmTarget) {
    const retryAfterMs = this.throttleOnce.get(target.key);
    if (retryAfterMs === undefined) return;
    this.throttleOnce.delete(target.key);
    throw new ArmPortError({ kind: "throttled", retryAfterMs, message: "Too many requests" });
  }
}

/** API server stand-in: stores records, bumps resourceVersion, and echoes every change to the controller. */
class FakeRecordStore implements RecordStorePort {
  readonly objects = new Map<string, AzureAssignedIdentity>();
  writes = 0;
  private rv = 100;
  watcher: MicController | undefined;

  async create(record: AzureAssignedIdentity) {
    this.writes++;
    const key = `${record.metadata.namespace}/${record.metadata.name}`;
    if (this.objects.has(key)) throw new Error("409 AlreadyExists");
    return this.store(record);
  }
  async update(record: AzureAssignedIdentity) {
    this.writes++;
    return this.store(record);
  }
  async patchStatus(namespace: string, name: string, status: AssignedState) {
    this.writes++;
    const current = this.objects.get(`${namespace}/${name}`);
    if (!current) throw new Error("404 NotFound");
    return this.store({ ...current, status: { ...current.status, status } });
  }
  async delete(namespace: string, name: string) {
    this.writes++;
    const key = `${namespace}/${name}`;
    this.objects.delete(key);
    setTimeout(() => this.watcher?.deleteAssignedIdentity(namespace, name), 1);
  }
  private store(record: AzureAssignedIdentity) {
    const stored = structuredClone({ ...record, metadata: { ...record.metadata, resourceVersion: String(++this.rv) } });
    this.objects.set(`${stored.metadata.namespace}/${stored.metadata.name}`, stored);
    const echo = structuredClone(stored);
    setTimeout(() => this.watcher?.upsertAssignedIdentity(echo), 1);
    return structuredClone(stored);
  }
  statuses(): Record<string, string> {
    return Object.fromEntries([...this.objects].map(([k, v]) => [k, v.status?.status ?? ""]));
  }
}

const vmssProvider = (rg: string, ss: string, i: number) =>
  `azure:///subscriptions/sub/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${ss}/virtualMachines/${i}`;
const vmProvider = (rg: string, vm: string) =>
  `azure:///subscriptions/sub/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${vm}`;
const vmssKey = (rg: string, ss: string) =>
  `/subscriptions/sub/resourcegroups/${rg}/providers/microsoft.compute/virtualmachinescalesets/${ss}`.toLowerCase();
const vmKey = (rg: string, vm: string) =>
  `/subscriptions/sub/resourcegroups/${rg}/providers/microsoft.compute/virtualmachines/${vm}`.toLowerCase();

const identity = (name: string, clientID = `client-${name}`) => ({
  metadata: { namespace: "default", name, resourceVersion: "1" },
  spec: { type: 0, resourceID: rid(name), clientID },
});
const binding = (name: string, identityName: string, selector: string) => ({
  metadata: { namespace: "default", name, resourceVersion: "1" },
  spec: { azureIdentity: identityName, selector },
});
const pod = (name: string, nodeName: string, selector: string, phase = "Running"): PodInfo => ({
  namespace: "default",
  name,
  uid: `uid-${name}`,
  nodeName,
  phase,
  labels: { aadpodidbinding: selector },
});

interface Harness {
  mic: MicController;
  arm: FakeArm;
  store: FakeRecordStore;
  events: MicEvent[];
}

const running: MicController[] = [];
afterEach(() => {
  for (const mic of running.splice(0)) mic.stop();
});

function harness(options: Partial<MicControllerOptions> = {}): Harness {
  const arm = new FakeArm();
  const store = new FakeRecordStore();
  const events: MicEvent[] = [];
  const mic = new MicController(
    {
      forceNamespaced: false,
      immutableClientIds: [],
      clientQps: 0,
      recomputeDelayMs: 2,
      unassignGracePeriodMs: 30_000,
      updateUserMsiRetryIntervalMs: 5,
      targetBackoff: { baseMs: 20, maxMs: 200 },
      identityBackoff: { baseMs: 20, maxMs: 200 },
      ...options,
    },
    { arm, records: store, events: { emit: (e) => events.push(e) } },
  );
  store.watcher = mic;
  running.push(mic);
  return { mic, arm, store, events };
}

describe("MIC controller", () => {
  test("wave of 1,000 pods over 100 nodes (5 VMSS + 20 VMs), 50 identities: all Assigned, at most two PATCHes per target", async () => {
    const { mic, arm, store } = harness();
    arm.latencyMs = 150;
    const nodes: { name: string; key: string }[] = [];
    for (let s = 0; s < 5; s++)
      for (let i = 0; i < 16; i++) {
        const name = `vmss${s}-${i}`;
        mic.upsertNode({ name, providerId: vmssProvider("nodes-rg", `pool${s}`, i) });
        nodes.push({ name, key: vmssKey("nodes-rg", `pool${s}`) });
      }
    for (let v = 0; v < 20; v++) {
      mic.upsertNode({ name: `vm${v}`, providerId: vmProvider("nodes-rg", `vm${v}`) });
      nodes.push({ name: `vm${v}`, key: vmKey("nodes-rg", `vm${v}`) });
    }
    for (let i = 0; i < 50; i++) {
      mic.upsertIdentity(identity(`id${i}`));
      mic.upsertBinding(binding(`b${i}`, `id${i}`, `sel${i}`));
    }
    mic.start();
    // The wave arrives in 10 bursts, most of them while the first PATCHes are in flight.
    for (let burst = 0; burst < 10; burst++) {
      for (let j = 0; j < 100; j++) {
        const n = burst * 100 + j;
        mic.upsertPod(pod(`p${n}`, nodes[n % nodes.length]?.name ?? "", `sel${(n * 7) % 50}`));
      }
      await sleep(5);
    }
    await until(
      "all records Assigned",
      () => store.objects.size === 1000 && Object.values(store.statuses()).every((s) => s === "Assigned"),
    );
    await mic.idle();
    const targets = new Set(nodes.map((n) => n.key));
    expect(targets.size).toBe(25);
    for (const key of targets) {
      expect(arm.patches(key).length).toBeGreaterThan(0);
      expect(arm.patches(key).length).toBeLessThanOrEqual(2);
    }
    for (let n = 0; n < 1000; n++)
      expect(arm.has(nodes[n % nodes.length]?.key ?? "", rid(`id${(n * 7) % 50}`))).toBe(true);
  });

  test("a 429 on one scale set delays only that scale set, and no call reaches it before Retry-After", async () => {
    const { mic, arm, store } = harness();
    mic.upsertIdentity(identity("id1"));
    mic.upsertBinding(binding("b1", "id1", "s"));
    for (const ss of ["a", "b", "c"]) mic.upsertNode({ name: `${ss}-0`, providerId: vmssProvider("rg", ss, 0) });
    arm.throttleOnce.set(vmssKey("rg", "a"), 400);
    mic.start();
    for (const ss of ["a", "b", "c"]) mic.upsertPod(pod(`p-${ss}`, `${ss}-0`, "s"));
    await until(
      "b and c Assigned",
      () =>
        store.statuses()["default/p-b-default-id1"] === "Assigned" &&
        store.statuses()["default/p-c-default-id1"] === "Assigned",
    );
    const throttledCalls = () => arm.calls.filter((c) => c.key === vmssKey("rg", "a"));
    expect(throttledCalls()).toHaveLength(1);
    expect(store.objects.has("default/p-a-default-id1")).toBe(false);
    await until("a Assigned after Retry-After", () => store.statuses()["default/p-a-default-id1"] === "Assigned");
    const [first, second] = throttledCalls();
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(400);
  });

  test("a Job pod replaced within the grace period costs no unassign and no reassign", async () => {
    const { mic, arm, store } = harness({ unassignGracePeriodMs: 60_000 });
    mic.upsertIdentity(identity("id1"));
    mic.upsertBinding(binding("b1", "id1", "job"));
    mic.upsertNode({ name: "n0", providerId: vmssProvider("rg", "ss", 0) });
    mic.upsertNode({ name: "n1", providerId: vmssProvider("rg", "ss", 1) });
    mic.start();
    mic.upsertPod(pod("job-run-1", "n0", "job"));
    await until("first run Assigned", () => store.statuses()["default/job-run-1-default-id1"] === "Assigned");
    mic.upsertPod(pod("job-run-1", "n0", "job", "Succeeded"));
    mic.upsertPod(pod("job-run-2", "n1", "job"));
    await until("second run Assigned", () => store.statuses()["default/job-run-2-default-id1"] === "Assigned");
    await until("completed run's record deleted", () => !store.objects.has("default/job-run-1-default-id1"));
    await mic.idle();
    expect(arm.patches()).toHaveLength(1);
    expect(arm.patches()[0]?.delta?.remove).toEqual([]);
    expect(arm.has(vmssKey("rg", "ss"), rid("id1"))).toBe(true);
  });

  test("without a replacement the identity is removed after the grace period, record Unassigned then deleted", async () => {
    const { mic, arm, store } = harness({ unassignGracePeriodMs: 100 });
    mic.upsertIdentity(identity("id1"));
    mic.upsertBinding(binding("b1", "id1", "s"));
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.start();
    mic.upsertPod(pod("web", "vm-a", "s"));
    await until("Assigned", () => store.statuses()["default/web-default-id1"] === "Assigned");
    const statuses: string[] = [];
    const patchStatus = store.patchStatus.bind(store);
    store.patchStatus = async (ns, name, status) => {
      statuses.push(status);
      return patchStatus(ns, name, status);
    };
    mic.deletePod("default", "web");
    // NMI stops serving the record at once; the identity stays for the grace period.
    await until("Unassigned", () => store.statuses()["default/web-default-id1"] === "Unassigned");
    expect(arm.has(vmKey("rg", "vm-a"), rid("id1"))).toBe(true);
    expect(arm.patches()).toHaveLength(1);
    await until("record deleted", () => !store.objects.has("default/web-default-id1"));
    expect(arm.has(vmKey("rg", "vm-a"), rid("id1"))).toBe(false);
    expect(statuses).toEqual(["Unassigned"]);
  });

  test("a reloaded cloud config's cluster identity is never removed, even when its removal was already pending", async () => {
    const { mic, arm, store } = harness({ unassignGracePeriodMs: 150 });
    mic.upsertIdentity(identity("cluster", "client-cluster"));
    mic.upsertBinding(binding("b1", "cluster", "s"));
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.start();
    mic.upsertPod(pod("web", "vm-a", "s"));
    await until("Assigned", () => store.statuses()["default/web-default-cluster"] === "Assigned");
    mic.deletePod("default", "web");
    await until("Unassigned", () => store.statuses()["default/web-default-cluster"] === "Unassigned");
    // azure.json now names it as the cluster identity (userAssignedIdentityID), in another case.
    mic.setCloudSettings({ immutableClientIds: ["CLIENT-CLUSTER"] });
    await until("record deleted", () => store.objects.size === 0);
    await sleep(300);
    await mic.idle();
    expect(arm.has(vmKey("rg", "vm-a"), rid("cluster"))).toBe(true);
    expect(arm.patches().every((c) => c.delta?.remove.length === 0)).toBe(true);
  });

  test("a reloaded cloud config's scope addresses nodes without a providerID from then on", async () => {
    const { mic, arm, store } = harness({ fallbackScope: { subscriptionId: "sub", resourceGroup: "rg-a" } });
    mic.upsertIdentity(identity("id1"));
    mic.upsertBinding(binding("b1", "id1", "s"));
    mic.upsertNode({ name: "vm-x" });
    mic.start();
    mic.upsertPod(pod("web", "vm-x", "s"));
    await until("Assigned", () => store.statuses()["default/web-default-id1"] === "Assigned");
    expect(arm.has(vmKey("rg-a", "vm-x"), rid("id1"))).toBe(true);
    mic.setCloudSettings({ immutableClientIds: [], fallbackScope: { subscriptionId: "sub", resourceGroup: "rg-b" } });
    await until("identity on the VM of the new scope", () => arm.has(vmKey("rg-b", "vm-x"), rid("id1")));
    expect(store.statuses()["default/web-default-id1"]).toBe("Assigned");
  });

  test("identities ARM refuses stay Created with a Warning naming ARM's reason, the others are Assigned, and the refused one is retried with backoff", async () => {
    const { mic, arm, store, events } = harness();
    arm.refused.add(rid("bad").toLowerCase());
    mic.upsertIdentity(identity("good"));
    mic.upsertIdentity(identity("bad"));
    mic.upsertBinding(binding("b-good", "good", "s"));
    mic.upsertBinding(binding("b-bad", "bad", "s"));
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.start();
    mic.upsertPod(pod("web", "vm-a", "s"));
    await until("good Assigned", () => store.statuses()["default/web-default-good"] === "Assigned");
    expect(store.statuses()["default/web-default-bad"]).toBe("Created");
    const warning = events.find((e) => e.reason === "binding apply error");
    expect(warning?.type).toBe("Warning");
    expect(warning?.object).toMatchObject({ kind: "AzureIdentityBinding", name: "b-bad" });
    expect(warning?.message).toContain("LinkedAuthorizationFailed");
    // Retried on its own schedule, not only on the next sync tick.
    const attemptsWith = () =>
      arm.patches().filter((c) => c.delta?.add.some((id) => id.toLowerCase() === rid("bad").toLowerCase())).length;
    await until("refused identity retried", () => attemptsWith() >= 3);
    arm.refused.clear();
    await until("bad Assigned once ARM accepts it", () => store.statuses()["default/web-default-bad"] === "Assigned");
  });

  test("informer resyncs and echoes of MIC's own writes cause no work", async () => {
    const { mic, arm, store } = harness();
    const id = identity("id1");
    const b = binding("b1", "id1", "s");
    mic.upsertIdentity(id);
    mic.upsertBinding(b);
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.start();
    mic.upsertPod(pod("web", "vm-a", "s"));
    await until("Assigned", () => store.statuses()["default/web-default-id1"] === "Assigned");
    await sleep(20);
    await mic.idle();
    const calls = arm.calls.length;
    const writes = store.writes;
    const runs = [...mic.queueRuns().values()].reduce((a, b) => a + b, 0);
    // A resync delivers every object again, unchanged (new resourceVersions on the CRDs don't matter).
    mic.upsertIdentity({ ...id, metadata: { ...id.metadata, resourceVersion: "2" } });
    mic.upsertBinding(b);
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.upsertPod(pod("web", "vm-a", "s"));
    for (const r of store.objects.values()) mic.upsertAssignedIdentity(structuredClone(r));
    await sleep(20);
    await mic.idle();
    expect(arm.calls.length).toBe(calls);
    expect(store.writes).toBe(writes);
    expect([...mic.queueRuns().values()].reduce((a, b) => a + b, 0)).toBe(runs);
  });

  test("a node that is gone has its records deleted without ARM calls", async () => {
    const { mic, arm, store, events } = harness();
    mic.upsertIdentity(identity("id1"));
    mic.upsertBinding(binding("b1", "id1", "s"));
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.start();
    mic.upsertPod(pod("web", "vm-a", "s"));
    await until("Assigned", () => store.statuses()["default/web-default-id1"] === "Assigned");
    await mic.idle();
    const calls = arm.calls.length;
    mic.deleteNode("vm-a");
    await until("records deleted", () => store.objects.size === 0);
    await mic.idle();
    expect(arm.calls.length).toBe(calls);
    expect(events.some((e) => e.reason === "binding removed" && e.type === "Normal")).toBe(true);
  });

  test("drift reconcile adds back an identity removed behind MIC's back and leaves extras alone", async () => {
    const { mic, arm, store } = harness();
    mic.upsertIdentity(identity("id1"));
    mic.upsertBinding(binding("b1", "id1", "s"));
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.start();
    mic.upsertPod(pod("web", "vm-a", "s"));
    await until("Assigned", () => store.statuses()["default/web-default-id1"] === "Assigned");
    await mic.idle();
    arm.identities.set(vmKey("rg", "vm-a"), [rid("someone-elses")]);
    mic.driftPass();
    await mic.idle();
    expect(arm.has(vmKey("rg", "vm-a"), rid("id1"))).toBe(true);
    expect(arm.has(vmKey("rg", "vm-a"), rid("someone-elses"))).toBe(true);
  });

  test("every --syncRetryDuration a full pass re-checks every target, even with no event and no drift tick", async () => {
    const { mic, arm, store } = harness({ identityAssignmentReconcileIntervalMs: 0, syncRetryDurationMs: 50 });
    mic.upsertIdentity(identity("id1"));
    mic.upsertBinding(binding("b1", "id1", "s"));
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.start();
    mic.upsertPod(pod("web", "vm-a", "s"));
    await until("Assigned", () => store.statuses()["default/web-default-id1"] === "Assigned");
    await mic.idle();
    arm.identities.set(vmKey("rg", "vm-a"), []);
    const patchesBefore = arm.patches(vmKey("rg", "vm-a")).length;
    await until("identity put back by the full pass", () => arm.has(vmKey("rg", "vm-a"), rid("id1")), 2_000);
    expect(arm.patches(vmKey("rg", "vm-a")).length).toBe(patchesBefore + 1);
  });

  test("immutable identities and identities users put on the VM are never removed", async () => {
    const { mic, arm, store } = harness({ unassignGracePeriodMs: 0, immutableClientIds: ["CLIENT-IMM"] });
    arm.identities.set(vmKey("rg", "vm-a"), [rid("users-own")]);
    for (const name of ["imm", "users-own", "plain"]) {
      mic.upsertIdentity(identity(name, name === "imm" ? "client-imm" : `client-${name}`));
      mic.upsertBinding(binding(`b-${name}`, name, "s"));
    }
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.start();
    mic.upsertPod(pod("web", "vm-a", "s"));
    await until("Assigned", () => Object.values(store.statuses()).filter((s) => s === "Assigned").length === 3);
    mic.deletePod("default", "web");
    await until("records deleted", () => store.objects.size === 0);
    await mic.idle();
    expect(arm.has(vmKey("rg", "vm-a"), rid("imm"))).toBe(true);
    expect(arm.has(vmKey("rg", "vm-a"), rid("users-own"))).toBe(true);
    expect(arm.has(vmKey("rg", "vm-a"), rid("plain"))).toBe(false);
  });

  test("an AzureIdentity with an invalid resourceID gets a Warning event and the loop goes on", async () => {
    const { mic, store, events } = harness();
    mic.upsertIdentity({
      metadata: { namespace: "default", name: "broken" },
      spec: { type: 0, resourceID: "nope", clientID: "c" },
    });
    mic.upsertBinding(binding("b-broken", "broken", "s"));
    mic.upsertIdentity(identity("ok"));
    mic.upsertBinding(binding("b-ok", "ok", "s"));
    mic.upsertNode({ name: "vm-a", providerId: vmProvider("rg", "vm-a") });
    mic.start();
    mic.upsertPod(pod("web", "vm-a", "s"));
    await until("valid identity Assigned", () => store.statuses()["default/web-default-ok"] === "Assigned");
    expect(events.find((e) => e.object.name === "broken")).toMatchObject({
      type: "Warning",
      reason: "invalid identity",
    });
    expect(store.objects.has("default/web-default-broken")).toBe(false);
  });

  test("node pools in other resource groups are addressed through their providerID, not the config's", async () => {
    const { mic, arm, store } = harness({ fallbackScope: { subscriptionId: "sub", resourceGroup: "config-rg" } });
    mic.upsertIdentity(identity("id1"));
    mic.upsertBinding(binding("b1", "id1", "s"));
    mic.upsertNode({ name: "n0", providerId: vmssProvider("other-rg", "pool", 0) });
    mic.start();
    mic.upsertPod(pod("web", "n0", "s"));
    await until("Assigned", () => store.statuses()["default/web-default-id1"] === "Assigned");
    expect(arm.calls.every((c) => c.key === vmssKey("other-rg", "pool"))).toBe(true);
  });

  test("a scale set being deleted is left alone", async () => {
    const { mic, arm, store } = harness();
    arm.provisioningState.set(vmssKey("rg", "dying"), "Deleting");
    mic.upsertIdentity(identity("id1"));
    mic.upsertBinding(binding("b1", "id1", "s"));
    mic.upsertNode({ name: "n0", providerId: vmssProvider("rg", "dying", 0) });
    mic.start();
    mic.upsertPod(pod("web", "n0", "s"));
    await until("retried read", () => arm.calls.filter((c) => c.op === "get").length >= 2);
    expect(arm.patches()).toHaveLength(0);
    expect(store.objects.size).toBe(0);
  });
});
