// Property: what MIC converges to depends only on the cluster's final state, never on the order in
// which informer events for different objects arrive, nor on how far MIC got between them. Each
// object (pod, identity, binding) has its own history of changes; two random interleavings of those
// histories (with random pauses that let MIC act on intermediate states) must end with the same
// AzureAssignedIdentity records and the same identities on every VM / scale set — exactly the ones
// the final pods need (no extras: nothing here was put on ARM by a user).
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { AssignedState, AzureAssignedIdentity } from "../../src/kube/crds.ts";
import { MicController } from "../../src/roles/mic/controller.ts";
import { computeDesiredState, type PodInfo } from "../../src/roles/mic/desired-state.ts";
import type { ArmTarget } from "../../src/roles/mic/node-target.ts";
import type { ArmIdentityPort, IdentityDelta, RecordStorePort, TargetIdentities } from "../../src/roles/mic/ports.ts";

const rid = (name: string) =>
  `/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

const NODES = [
  {
    name: "n1",
    providerId:
      "azure:///subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0",
  },
  {
    name: "n2",
    providerId:
      "azure:///subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/1",
  },
  {
    name: "n3",
    providerId: "azure:///subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm3",
  },
];
const TARGET_OF_NODE: Record<string, string> = {
  n1: "/subscriptions/sub/resourcegroups/rg/providers/microsoft.compute/virtualmachinescalesets/ss",
  n2: "/subscriptions/sub/resourcegroups/rg/providers/microsoft.compute/virtualmachinescalesets/ss",
  n3: "/subscriptions/sub/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm3",
};

class MemoryArm implements ArmIdentityPort {
  readonly identities = new Map<string, Set<string>>();
  async getIdentity(target: ArmTarget): Promise<TargetIdentities> {
    await Promise.resolve();
    return this.state(target);
  }
  async updateIdentities(target: ArmTarget, delta: IdentityDelta): Promise<TargetIdentities> {
    await Promise.resolve();
    const set = this.identities.get(target.key) ?? new Set<string>();
    for (const id of delta.remove) set.delete(id.toLowerCase());
    for (const id of delta.add) set.add(id.toLowerCase());
    this.identities.set(target.key, set);
    return this.state(target);
  }
  private state(target: ArmTarget): TargetIdentities {
    const ids = [...(this.identities.get(target.key) ?? [])];
    return {
      userAssignedIdentities: ids,
      type: ids.length > 0 ? "UserAssigned" : "None",
      provisioningState: "Succeeded",
    };
  }
}

/** Stores records and echoes each write back to the controller, as a watch would. */
class MemoryStore implements RecordStorePort {
  readonly objects = new Map<string, AzureAssignedIdentity>();
  watcher: MicController | undefined;
  private rv = 1;
  async create(record: AzureAssignedIdentity) {
    const key = `${record.metadata.namespace}/${record.metadata.name}`;
    if (this.objects.has(key)) throw new Error("409 AlreadyExists");
    return this.store(record);
  }
  async update(record: AzureAssignedIdentity) {
    return this.store(record);
  }
  async patchStatus(namespace: string, name: string, status: AssignedState) {
    const current = this.objects.get(`${namespace}/${name}`);
    if (!current) throw new Error("404 NotFound");
    return this.store({ ...current, status: { ...current.status, status } });
  }
  async delete(namespace: string, name: string) {
    this.objects.delete(`${namespace}/${name}`);
    setTimeout(() => this.watcher?.deleteAssignedIdentity(namespace, name), 0);
  }
  private store(record: AzureAssignedIdentity) {
    const stored = structuredClone({ ...record, metadata: { ...record.metadata, resourceVersion: String(++this.rv) } });
    this.objects.set(`${stored.metadata.namespace}/${stored.metadata.name}`, stored);
    const echo = structuredClone(stored);
    setTimeout(() => this.watcher?.upsertAssignedIdentity(echo), 0);
    return structuredClone(stored);
  }
}

// ---- the objects and their histories ----

type PodState = { node: string; selector: string; phase: string } | "deleted";
type IdentityState = { resource: string } | "deleted";
type BindingState = { identity: string; selector: string } | "deleted";

type Change =
  | { kind: "pod"; name: string; state: PodState }
  | { kind: "identity"; name: string; state: IdentityState }
  | { kind: "binding"; name: string; state: BindingState };

const identityObject = (name: string, resource: string) => ({
  metadata: { namespace: "default", name },
  spec: { type: 0, resourceID: rid(resource), clientID: `client-${resource}` },
});
const bindingObject = (name: string, s: { identity: string; selector: string }) => ({
  metadata: { namespace: "default", name },
  spec: { azureIdentity: s.identity, selector: s.selector },
});
const podInfo = (name: string, s: { node: string; selector: string; phase: string }): PodInfo => ({
  namespace: "default",
  name,
  uid: `uid-${name}`,
  nodeName: s.node,
  phase: s.phase,
  labels: { aadpodidbinding: s.selector },
});

function apply(mic: MicController, change: Change): void {
  if (change.kind === "pod") {
    if (change.state === "deleted") mic.deletePod("default", change.name);
    else mic.upsertPod(podInfo(change.name, change.state));
  } else if (change.kind === "identity") {
    if (change.state === "deleted") mic.deleteIdentity("default", change.name);
    else mic.upsertIdentity(identityObject(change.name, change.state.resource));
  } else if (change.state === "deleted") mic.deleteBinding("default", change.name);
  else mic.upsertBinding(bindingObject(change.name, change.state));
}

const selectorArb = fc.constantFrom("s1", "s2");
const podStateArb: fc.Arbitrary<PodState> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      node: fc.constantFrom("n1", "n2", "n3"),
      selector: selectorArb,
      phase: fc.constantFrom("Running", "Running", "Succeeded"),
    }),
  },
  { weight: 1, arbitrary: fc.constant("deleted" as const) },
);
const identityStateArb: fc.Arbitrary<IdentityState> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ resource: fc.constantFrom("r1", "r2", "r3") }) },
  { weight: 1, arbitrary: fc.constant("deleted" as const) },
);
const bindingStateArb: fc.Arbitrary<BindingState> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ identity: fc.constantFrom("i1", "i2"), selector: selectorArb }) },
  { weight: 1, arbitrary: fc.constant("deleted" as const) },
);
/** A history starts with the object's creation. */
const historyArb = <S>(state: fc.Arbitrary<S>, first: fc.Arbitrary<S>) =>
  fc.tuple(first, fc.array(state, { maxLength: 2 })).map(([a, rest]) => [a, ...rest]);

const worldArb = fc.record({
  pods: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom("p1", "p2", "p3", "p4"),
      history: historyArb(
        podStateArb,
        podStateArb.filter((s) => s !== "deleted"),
      ),
    }),
    { selector: (p) => p.name, minLength: 2, maxLength: 4 },
  ),
  identities: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom("i1", "i2"),
      history: historyArb(
        identityStateArb,
        identityStateArb.filter((s) => s !== "deleted"),
      ),
    }),
    { selector: (i) => i.name, minLength: 2, maxLength: 2 },
  ),
  bindings: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom("b1", "b2", "b3"),
      history: historyArb(
        bindingStateArb,
        bindingStateArb.filter((s) => s !== "deleted"),
      ),
    }),
    { selector: (b) => b.name, minLength: 2, maxLength: 3 },
  ),
});
type WorldSpec = typeof worldArb extends fc.Arbitrary<infer T> ? T : never;

function histories(world: WorldSpec): Change[][] {
  return [
    ...world.pods.map((p) => p.history.map((state): Change => ({ kind: "pod", name: p.name, state }))),
    ...world.identities.map((i) => i.history.map((state): Change => ({ kind: "identity", name: i.name, state }))),
    ...world.bindings.map((b) => b.history.map((state): Change => ({ kind: "binding", name: b.name, state }))),
  ];
}

/** One interleaving: `picks` choose which object's next change comes; a `settle` lets MIC catch up first. */
const scheduleArb = fc.array(fc.record({ pick: fc.nat(), settle: fc.boolean() }), { minLength: 20, maxLength: 20 });

function interleave(lists: Change[][], schedule: { pick: number; settle: boolean }[]) {
  const queues = lists.map((l) => [...l]);
  const steps: { change: Change; settle: boolean }[] = [];
  let i = 0;
  for (;;) {
    const open = queues.filter((q) => q.length > 0);
    if (open.length === 0) return steps;
    const step = schedule[i++ % schedule.length] ?? { pick: 0, settle: false };
    const change = open[step.pick % open.length]?.shift() as Change;
    steps.push({ change, settle: step.settle });
  }
}

async function settle(mic: MicController): Promise<void> {
  // Echoes of MIC's own writes arrive on timers; wait until neither they nor MIC have work left. A MIC
  // that never settles fails the property (with its counterexample) instead of timing the test out.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("MIC did not settle within 2 s")), 2_000);
  });
  try {
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1));
      await Promise.race([mic.idle(), stuck]);
    }
  } finally {
    clearTimeout(timer);
  }
}

interface Outcome {
  records: Record<string, { pod: string; node: string; identity: string; resource: string; status: string }>;
  arm: Record<string, string[]>;
}

async function run(steps: { change: Change; settle: boolean }[]): Promise<Outcome> {
  const arm = new MemoryArm();
  const store = new MemoryStore();
  const mic = new MicController(
    {
      forceNamespaced: false,
      immutableClientIds: [],
      clientQps: 0,
      recomputeDelayMs: 0,
      unassignGracePeriodMs: 0,
      targetBackoff: { baseMs: 1, maxMs: 5 },
      identityBackoff: { baseMs: 1, maxMs: 5 },
    },
    { arm, records: store, events: { emit() {} } },
  );
  store.watcher = mic;
  for (const node of NODES) mic.upsertNode(node);
  mic.start();
  try {
    for (const step of steps) {
      apply(mic, step.change);
      if (step.settle) await settle(mic);
    }
    await settle(mic);
  } finally {
    mic.stop();
  }
  const records: Outcome["records"] = {};
  for (const [key, r] of [...store.objects].sort(([a], [b]) => (a < b ? -1 : 1)))
    records[key] = {
      pod: r.spec.pod,
      node: r.spec.nodename,
      identity: r.spec.azureIdentityRef?.metadata.name ?? "",
      resource: (r.spec.azureIdentityRef?.spec.resourceID ?? "").toLowerCase(),
      status: r.status?.status ?? "",
    };
  const armView: Outcome["arm"] = {};
  for (const [key, ids] of arm.identities) if (ids.size > 0) armView[key] = [...ids].sort();
  return { records, arm: armView };
}

/** What the final state needs, straight from the pure desired state. */
function expected(world: WorldSpec): Outcome {
  const last = <S>(history: S[]) => history[history.length - 1] as S;
  const pods: PodInfo[] = [];
  for (const p of world.pods) {
    const s = last(p.history);
    if (s !== "deleted") pods.push(podInfo(p.name, s));
  }
  const identities = world.identities.flatMap((i) => {
    const s = last(i.history);
    return s === "deleted" ? [] : [identityObject(i.name, s.resource)];
  });
  const bindings = world.bindings.flatMap((b) => {
    const s = last(b.history);
    return s === "deleted" ? [] : [bindingObject(b.name, s)];
  });
  const desired = computeDesiredState({ pods, bindings, identities, forceNamespaced: false }).assignments;
  const records: Outcome["records"] = {};
  const arm = new Map<string, Set<string>>();
  for (const d of desired) {
    records[d.key] = {
      pod: d.podName,
      node: d.nodeName,
      identity: d.identity.metadata.name,
      resource: d.resourceId.toLowerCase(),
      status: "Assigned",
    };
    const target = TARGET_OF_NODE[d.nodeName] as string;
    arm.set(target, (arm.get(target) ?? new Set()).add(d.resourceId.toLowerCase()));
  }
  const armView: Outcome["arm"] = {};
  for (const [key, ids] of arm) armView[key] = [...ids].sort();
  return { records, arm: armView };
}

describe("MIC converges independently of event order", () => {
  test("property: two interleavings of the same per-object histories end with the same records and ARM identities, exactly what the final pods need", async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, scheduleArb, scheduleArb, async (world, first, second) => {
        const lists = histories(world);
        const a = await run(interleave(lists, first));
        const b = await run(interleave(lists, second));
        expect(b).toEqual(a);
        expect(a).toEqual(expected(world));
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});
