import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { AzureAssignedIdentity } from "../../src/kube/crds.ts";
import { computeDesiredState, type DesiredAssignment, type PodInfo } from "../../src/roles/mic/desired-state.ts";
import {
  type PendingRemoval,
  PREEXISTING_ANNOTATION,
  planTarget,
  type RecordWrite,
  recordKey,
  type TargetPlan,
  type TargetPlanInput,
} from "../../src/roles/mic/plan.ts";

const rid = (name: string) =>
  `/subscriptions/sub/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

// Identity pool. "shared-a" and "shared-b" are two AzureIdentity objects for the same ARM identity,
// spelled in different case, to check case-insensitive comparison.
const IDENTITIES = [
  { name: "id1", resourceID: rid("id1"), clientID: "c1" },
  { name: "id2", resourceID: rid("id2"), clientID: "c2" },
  { name: "immutable", resourceID: rid("immutable"), clientID: "c-imm" },
  { name: "user-owned", resourceID: rid("user-owned"), clientID: "c-user" },
  { name: "shared-a", resourceID: rid("shared"), clientID: "c-shared" },
  { name: "shared-b", resourceID: rid("SHARED").toUpperCase(), clientID: "C-SHARED" },
  { name: "sp", type: 1 },
];
const identityObjects = IDENTITIES.map((i) => ({
  metadata: { namespace: "ns", name: i.name },
  spec:
    i.type === 1
      ? { type: 1, clientID: "sp-client", tenantID: "t", clientPassword: { name: "secret" } }
      : { type: 0, resourceID: i.resourceID, clientID: i.clientID },
}));
const bindingObjects = IDENTITIES.map((i) => ({
  metadata: { namespace: "ns", name: `b-${i.name}` },
  spec: { azureIdentity: i.name, selector: i.name },
}));
const IMMUTABLE = new Set(["c-imm"]);
const USER_OWNED = rid("user-owned").toUpperCase();
const GRACE = 30_000;

function desiredFor(pods: PodInfo[]): DesiredAssignment[] {
  return computeDesiredState({ pods, bindings: bindingObjects, identities: identityObjects, forceNamespaced: false })
    .assignments;
}

const pod = (name: string, node: string, selector: string): PodInfo => ({
  namespace: "ns",
  name,
  nodeName: node,
  phase: "Running",
  labels: { aadpodidbinding: selector },
});

interface World {
  arm: string[];
  records: Map<string, AzureAssignedIdentity>;
  pending: PendingRemoval[];
}

function inputFor(
  world: World,
  desired: DesiredAssignment[],
  now: number,
  extra: Partial<TargetPlanInput> = {},
): TargetPlanInput {
  return {
    desired,
    current: [...world.records.values()],
    desiredElsewhere: () => false,
    existsElsewhere: () => false,
    arm: world.arm,
    pending: world.pending,
    blockedAdds: new Set(),
    immutableClientIds: IMMUTABLE,
    now,
    graceMs: GRACE,
    ...extra,
  };
}

function applyWrite(records: Map<string, AzureAssignedIdentity>, write: RecordWrite) {
  const key = recordKey(write.record);
  if (write.kind === "delete") records.delete(key);
  else if (write.kind === "status") records.set(key, { ...write.record, status: { status: write.status } });
  else records.set(key, write.record);
}

/** Applies a plan as if every API write and ARM change succeeded. */
function apply(world: World, plan: TargetPlan): World {
  const records = new Map(world.records);
  for (const w of plan.before) applyWrite(records, w);
  const removed = new Set(plan.remove.map((r) => r.resourceId.toLowerCase()));
  const arm = world.arm.filter((id) => !removed.has(id.toLowerCase()));
  for (const id of plan.add) if (!arm.some((a) => a.toLowerCase() === id.toLowerCase())) arm.push(id);
  for (const c of plan.after) applyWrite(records, c.write);
  return { arm, records, pending: plan.pending };
}

/** Nothing to write and nothing to change on ARM. */
const isEmptyPlan = (plan: TargetPlan) =>
  plan.before.length + plan.add.length + plan.remove.length + plan.after.length === 0;

const lowerSet = (ids: readonly string[]) => new Set(ids.map((i) => i.toLowerCase()));
const statusesOf = (world: World) =>
  Object.fromEntries([...world.records].map(([key, r]) => [key, r.status?.status ?? ""]).sort());

describe("plan for one VM / VMSS", () => {
  test("new pod: record created as Created, identity added, then Assigned once ARM confirms", () => {
    const world: World = { arm: [], records: new Map(), pending: [] };
    const desired = desiredFor([pod("web-0", "n1", "id1")]);
    const plan = planTarget(inputFor(world, desired, 0));
    expect(plan.before).toHaveLength(1);
    expect(plan.before[0]).toMatchObject({ kind: "create" });
    expect(plan.before[0]?.record.status?.status).toBe("Created");
    expect(plan.before[0]?.record.metadata.finalizers).toEqual([
      "azureassignedidentity.finalizers.aadpodidentity.k8s.io",
    ]);
    expect(plan.before[0]?.record.metadata.labels).toEqual({ nodename: "n1" });
    expect(plan.add).toEqual([rid("id1")]);
    expect(plan.after).toHaveLength(1);
    expect(plan.after[0]?.requires).toEqual({ op: "add", resourceId: rid("id1").toLowerCase() });
    expect(plan.after[0]?.write).toMatchObject({ kind: "status", status: "Assigned" });
  });

  test("identity already on the target: record written directly as Assigned, no PATCH, marked user-owned", () => {
    const world: World = { arm: [rid("id1").toUpperCase()], records: new Map(), pending: [] };
    const plan = planTarget(inputFor(world, desiredFor([pod("web-0", "n1", "id1")]), 0));
    expect(plan.add).toEqual([]);
    expect(plan.before[0]?.record.status?.status).toBe("Assigned");
    expect(plan.before[0]?.record.metadata.annotations?.[PREEXISTING_ANNOTATION]).toBe("true");
  });

  test("service principal identities never touch ARM and are Assigned at once", () => {
    const plan = planTarget(
      inputFor({ arm: [], records: new Map(), pending: [] }, desiredFor([pod("web-0", "n1", "sp")]), 0),
    );
    expect(plan.add).toEqual([]);
    expect(plan.before[0]?.record.status?.status).toBe("Assigned");
  });

  test("pod deleted: record Unassigned at once, identity removed after the grace period, then record deleted", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("job-1", "n1", "id1")]), 0)));
    const early = planTarget(inputFor(world, [], 1000));
    expect(early.before).toEqual([expect.objectContaining({ kind: "status", status: "Unassigned" })]);
    expect(early.add).toEqual([]);
    expect(early.remove).toEqual([]);
    expect(early.after).toEqual([]);
    expect(early.wakeAt).toBe(1000 + GRACE);
    world = apply(world, early);
    expect(statusesOf(world)).toEqual({ "default/job-1-ns-id1": "Unassigned" });
    // Nothing more to write while the grace period runs.
    expect(isEmptyPlan(planTarget(inputFor(world, [], 2000)))).toBe(true);
    const due = planTarget(inputFor(world, [], 1000 + GRACE));
    expect(due.before).toEqual([]);
    expect(due.remove.map((r) => r.resourceId)).toEqual([rid("id1")]);
    expect(due.after).toEqual([
      {
        requires: { op: "remove", resourceId: rid("id1").toLowerCase() },
        write: expect.objectContaining({ kind: "delete" }),
      },
    ]);
    world = apply(world, due);
    expect(world.records.size).toBe(0);
    expect(world.arm).toEqual([]);
  });

  test("label change: the old record is Unassigned in the first plan and deleted once the grace removal is done", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("web", "n1", "id1")]), 0)));
    expect(statusesOf(world)).toEqual({ "default/web-ns-id1": "Assigned" });
    const relabelled = desiredFor([pod("web", "n1", "id2")]);
    const first = planTarget(inputFor(world, relabelled, 1000));
    expect(first.before.map((w) => [w.kind, recordKey(w.record), w.kind === "status" ? w.status : ""]).sort()).toEqual([
      ["create", "default/web-ns-id2", ""],
      ["status", "default/web-ns-id1", "Unassigned"],
    ]);
    expect(first.add).toEqual([rid("id2")]);
    expect(first.remove).toEqual([]);
    world = apply(world, first);
    expect(statusesOf(world)).toEqual({ "default/web-ns-id1": "Unassigned", "default/web-ns-id2": "Assigned" });
    expect(isEmptyPlan(planTarget(inputFor(world, relabelled, 2000)))).toBe(true);
    const due = planTarget(inputFor(world, relabelled, 1000 + GRACE));
    expect(due.remove.map((r) => r.resourceId)).toEqual([rid("id1")]);
    expect(due.after.map((c) => [c.write.kind, recordKey(c.write.record)])).toEqual([["delete", "default/web-ns-id1"]]);
    world = apply(world, due);
    expect(statusesOf(world)).toEqual({ "default/web-ns-id2": "Assigned" });
    expect(lowerSet(world.arm)).toEqual(lowerSet([rid("id2")]));
  });

  test("Job re-run within the grace period: no ARM change, the old run's Unassigned record is deleted", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("job-1", "n1", "id1")]), 0)));
    // The first run completes (completed pods are not desired): its record stops granting at once.
    const completed = planTarget(inputFor(world, [], 1000));
    expect(completed.add).toEqual([]);
    expect(completed.remove).toEqual([]);
    world = apply(world, completed);
    expect(statusesOf(world)).toEqual({ "default/job-1-ns-id1": "Unassigned" });
    const rerun = desiredFor([pod("job-2", "n1", "id1")]);
    const plan = planTarget(inputFor(world, rerun, 5000));
    expect(plan.add).toEqual([]);
    expect(plan.remove).toEqual([]);
    expect(plan.after).toEqual([]);
    expect(plan.pending).toEqual([]);
    expect(plan.before.map((w) => [w.kind, recordKey(w.record)]).sort()).toEqual([
      ["create", "default/job-2-ns-id1"],
      ["delete", "default/job-1-ns-id1"],
    ]);
    world = apply(world, plan);
    expect(statusesOf(world)).toEqual({ "default/job-2-ns-id1": "Assigned" });
    // Not mistaken for user-owned: once the second run goes too, the identity is removed.
    world = apply(world, planTarget(inputFor(world, [], 6000)));
    expect(planTarget(inputFor(world, [], 6000 + GRACE)).remove.map((r) => r.resourceId)).toEqual([rid("id1")]);
  });

  test("an Unassigned record never keeps its identity, but still marks it MIC-owned after a failover", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("a", "n1", "id1")]), 0)));
    world = apply(world, planTarget(inputFor(world, [], 1000)));
    expect(statusesOf(world)).toEqual({ "default/a-ns-id1": "Unassigned" });
    // A new leader: no memory, only the records and ARM.
    world = { ...world, pending: [] };
    const takeover = planTarget(inputFor(world, [], 50_000));
    expect(isEmptyPlan(takeover)).toBe(true);
    expect(takeover.pending).toEqual([{ resourceId: rid("id1"), clientId: "c1", since: 50_000, preexisting: false }]);
    world = apply(world, takeover);
    const due = planTarget(inputFor(world, [], 50_000 + GRACE));
    expect(due.remove.map((r) => r.resourceId)).toEqual([rid("id1")]);
    expect(apply(world, due).records.size).toBe(0);
  });

  test("a pod that needs its identity again within the grace period gets its Unassigned record back as Assigned, no ARM change", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    const desired = desiredFor([pod("a", "n1", "id1")]);
    world = apply(world, planTarget(inputFor(world, desired, 0)));
    world = apply(world, planTarget(inputFor(world, [], 1000)));
    const back = planTarget(inputFor(world, desired, 2000));
    expect(back.before).toEqual([expect.objectContaining({ kind: "status", status: "Assigned" })]);
    expect(back.add).toEqual([]);
    expect(back.remove).toEqual([]);
    expect(back.pending).toEqual([]);
  });

  test("without an ARM read a record no longer desired still stops granting", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("a", "n1", "id1")]), 0)));
    const plan = planTarget(inputFor(world, [], 1000, { arm: undefined }));
    expect(plan.before).toEqual([expect.objectContaining({ kind: "status", status: "Unassigned" })]);
    expect(plan.remove).toEqual([]);
    expect(plan.pending).toEqual([]);
  });

  test("Job pod replaced within the grace period: no unassign, no reassign, old record deleted", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("job-1", "n1", "id1")]), 0)));
    world = apply(world, planTarget(inputFor(world, [], 1000)));
    const plan = planTarget(inputFor(world, desiredFor([pod("job-2", "n2", "id1")]), 5000));
    expect(plan.remove).toEqual([]);
    expect(plan.add).toEqual([]);
    expect(plan.before.map((w) => w.kind).sort()).toEqual(["create", "delete"]);
    world = apply(world, plan);
    expect(world.pending).toEqual([]);
    expect(isEmptyPlan(planTarget(inputFor(world, desiredFor([pod("job-2", "n2", "id1")]), 1_000_000)))).toBe(true);
  });

  test("identity still used by a pod on another node of the scale set is not removed (client ID compared case-insensitively)", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    const both = desiredFor([pod("a", "n1", "shared-a"), pod("b", "n2", "shared-b")]);
    world = apply(world, planTarget(inputFor(world, both, 0)));
    expect(world.arm).toHaveLength(1);
    const plan = planTarget(inputFor(world, desiredFor([pod("b", "n2", "shared-b")]), 1_000_000));
    expect(plan.remove).toEqual([]);
    expect(plan.before).toEqual([expect.objectContaining({ kind: "delete" })]);
  });

  test("immutable identities are never removed, their records are deleted", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("a", "n1", "immutable")]), 0)));
    const plan = planTarget(inputFor(world, [], 1_000_000));
    expect(plan.remove).toEqual([]);
    expect(plan.before.map((w) => w.kind)).toEqual(["delete"]);
  });

  test("an identity the user put on the target survives MIC's records coming and going, across restarts", () => {
    let world: World = { arm: [USER_OWNED], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("a", "n1", "user-owned")]), 0)));
    // A second pod arrives while the first still holds the identity: it inherits the flag.
    world = apply(
      world,
      planTarget(inputFor(world, desiredFor([pod("a", "n1", "user-owned"), pod("b", "n1", "user-owned")]), 1)),
    );
    // Restart: MIC forgets its memory (pending), only the records remain.
    world = { ...world, pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("b", "n1", "user-owned")]), 2)));
    const last = planTarget(inputFor(world, [], 1_000_000));
    expect(last.remove).toEqual([]);
    world = apply(world, last);
    expect(lowerSet(world.arm).has(USER_OWNED.toLowerCase())).toBe(true);
    expect(world.records.size).toBe(0);
  });

  test("identity MIC added is not mistaken for user-owned when a second pod arrives", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("a", "n1", "id1")]), 0)));
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("a", "n1", "id1"), pod("b", "n1", "id1")]), 1)));
    for (const r of world.records.values()) expect(r.metadata.annotations?.[PREEXISTING_ANNOTATION]).toBeUndefined();
    world = apply(world, planTarget(inputFor(world, [], 1_000)));
    const plan = planTarget(inputFor(world, [], 1_000 + GRACE));
    expect(plan.remove.map((r) => r.resourceId)).toEqual([rid("id1")]);
  });

  test("drift: an Assigned record whose identity vanished from ARM gets it added back; extras are left alone", () => {
    let world: World = { arm: [rid("stranger")], records: new Map(), pending: [] };
    const desired = desiredFor([pod("a", "n1", "id1")]);
    world = apply(world, planTarget(inputFor(world, desired, 0)));
    world = { ...world, arm: [rid("stranger")] };
    const plan = planTarget(inputFor(world, desired, 10));
    expect(plan.add).toEqual([rid("id1")]);
    expect(plan.remove).toEqual([]);
    expect(plan.before).toEqual([]);
  });

  test("an identity in backoff is not added again; its record stays Created", () => {
    const world: World = { arm: [], records: new Map(), pending: [] };
    const plan = planTarget(
      inputFor(world, desiredFor([pod("a", "n1", "id1")]), 0, { blockedAdds: new Set([rid("id1")]) }),
    );
    expect(plan.add).toEqual([]);
    expect(plan.before[0]?.record.status?.status).toBe("Created");
    expect(plan.after).toEqual([]);
    expect(plan.waiting).toHaveLength(1);
  });

  test("identity or binding edited: record updated, the old identity becomes a removal candidate", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("a", "n1", "id1")]), 0)));
    const edited = desiredFor([pod("a", "n1", "id1")]).map((d) => ({
      ...d,
      identity: { ...d.identity, spec: { ...d.identity.spec, resourceID: rid("id2"), clientID: "c2" } },
      resourceId: rid("id2"),
      clientId: "c2",
    }));
    const plan = planTarget(inputFor(world, edited, 100));
    expect(plan.before.map((w) => w.kind)).toEqual(["update"]);
    expect(plan.add).toEqual([rid("id2")]);
    expect(plan.pending.map((p) => p.resourceId)).toEqual([rid("id1")]);
  });

  test("a record moving to another target is released here at once, its removal remembered", () => {
    let world: World = { arm: [], records: new Map(), pending: [] };
    world = apply(world, planTarget(inputFor(world, desiredFor([pod("a", "n1", "id1")]), 0)));
    const plan = planTarget(inputFor(world, [], 5, { desiredElsewhere: () => true }));
    expect(plan.before).toEqual([expect.objectContaining({ kind: "delete" })]);
    expect(plan.pending).toHaveLength(1);
    const waiting = planTarget(
      inputFor({ arm: [], records: new Map(), pending: [] }, desiredFor([pod("a", "n1", "id1")]), 5, {
        existsElsewhere: () => true,
      }),
    );
    expect(isEmptyPlan(waiting)).toBe(true);
    expect(waiting.waiting).toHaveLength(1);
  });

  test("an identity MIC added stays MIC-owned while the record that needs it waits for another target to release it", () => {
    // p3 had id1 on this target; p3 is gone and p1 (moving in from another target) needs id1 here.
    const start: World = { arm: [], records: new Map(), pending: [] };
    const first = apply(start, planTarget(inputFor(start, desiredFor([pod("p3", "n1", "id1")]), 0)));
    expect(first.arm).toEqual([rid("id1")]);
    const moving = desiredFor([pod("p1", "n1", "id1")]);
    const p1Key = moving[0]?.key ?? "";
    const waiting = planTarget(inputFor(first, moving, 1000, { existsElsewhere: (key) => key === p1Key }));
    expect(waiting.waiting).toEqual([p1Key]);
    expect(waiting.remove).toEqual([]);
    expect(waiting.before.map((w) => w.kind)).toEqual(["delete"]);
    expect(waiting.pending).toEqual([{ resourceId: rid("id1"), clientId: "c1", since: 1000, preexisting: false }]);
    const released = apply(first, waiting);
    // The other target released p1's record: it is written here, not marked user-owned.
    const written = planTarget(inputFor(released, moving, 2000));
    expect(written.before).toHaveLength(1);
    expect(written.before[0]?.record.metadata.annotations?.[PREEXISTING_ANNOTATION]).toBeUndefined();
    expect(written.pending).toEqual([]);
    // So when p1 goes too, the identity is removed after the grace period.
    const settled = apply(released, written);
    const later = apply(settled, planTarget(inputFor(settled, [], 3000)));
    const removal = planTarget(inputFor(later, [], 3000 + GRACE));
    expect(removal.remove.map((r) => r.resourceId)).toEqual([rid("id1")]);
  });

  test("without an ARM read nothing about user-assigned identities is decided", () => {
    const plan = planTarget(
      inputFor({ arm: [], records: new Map(), pending: [] }, desiredFor([pod("a", "n1", "id1")]), 0, {
        arm: undefined,
      }),
    );
    expect(isEmptyPlan(plan)).toBe(true);
  });

  test("properties over random sequences: needed, immutable and user-owned identities are never removed; replanning after applying gives an empty plan; desired identities end up on the target", () => {
    const selector = fc.constantFrom("id1", "id2", "immutable", "user-owned", "shared-a", "shared-b", "sp");
    const podsArb = fc.uniqueArray(
      fc.record({ name: fc.constantFrom("p1", "p2", "p3", "p4", "p5"), node: fc.constantFrom("n1", "n2"), selector }),
      {
        selector: (p) => p.name,
        maxLength: 5,
      },
    );
    const stepArb = fc.record({
      pods: podsArb,
      advance: fc.constantFrom(0, 1000, GRACE, 10 * GRACE),
      restart: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), fc.boolean(), (steps, userFirst) => {
        let world: World = { arm: userFirst ? [USER_OWNED] : [], records: new Map(), pending: [] };
        let now = 0;
        for (const step of steps) {
          now += step.advance;
          if (step.restart) world = { ...world, pending: [] };
          const desired = desiredFor(step.pods.map((p) => pod(p.name, p.node, p.selector)));
          const plan = planTarget(inputFor(world, desired, now));
          const needed = new Set<string>();
          for (const d of desired)
            if (d.identityType === 0) needed.add(d.resourceId.toLowerCase()).add(d.clientId.toLowerCase());
          for (const r of plan.remove) {
            expect(needed.has(r.resourceId.toLowerCase())).toBe(false);
            expect(needed.has(r.clientId.toLowerCase())).toBe(false);
            expect(IMMUTABLE.has(r.clientId.toLowerCase())).toBe(false);
            if (userFirst) expect(r.resourceId.toLowerCase()).not.toBe(USER_OWNED.toLowerCase());
          }
          world = apply(world, plan);
          // No record outside the desired set is left granting (Assigned) or waiting (Created).
          const desiredKeys = new Set(desired.map((d) => d.key));
          for (const [key, r] of world.records) if (!desiredKeys.has(key)) expect(r.status?.status).toBe("Unassigned");
          const again = planTarget(inputFor(world, desired, now));
          expect(isEmptyPlan(again)).toBe(true);
          expect(again.pending).toEqual(world.pending);
          const onArm = lowerSet(world.arm);
          for (const d of desired) {
            if (d.identityType === 0) expect(onArm.has(d.resourceId.toLowerCase())).toBe(true);
            expect(world.records.get(d.key)?.status?.status).toBe("Assigned");
          }
          if (userFirst) expect(onArm.has(USER_OWNED.toLowerCase())).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("property: the plan does not depend on the order of desired records, current records, ARM's list or pending removals", () => {
    const selector = fc.constantFrom("id1", "id2", "immutable", "user-owned", "shared-a", "shared-b", "sp");
    const podsArb = fc.uniqueArray(
      fc.record({ name: fc.constantFrom("p1", "p2", "p3", "p4", "p5"), node: fc.constantFrom("n1", "n2"), selector }),
      { selector: (p) => p.name, maxLength: 5 },
    );
    const sortedBy = <T>(xs: readonly T[], key: (x: T) => string) =>
      [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const writeKey = (w: RecordWrite) => `${w.kind}:${recordKey(w.record)}:${JSON.stringify(w.record)}`;
    const normal = (plan: TargetPlan) => ({
      before: sortedBy(plan.before, writeKey),
      add: sortedBy(plan.add, (x) => x.toLowerCase()),
      remove: sortedBy(plan.remove, (r) => r.resourceId.toLowerCase()),
      after: sortedBy(plan.after, (c) => `${c.requires.op}:${c.requires.resourceId}:${writeKey(c.write)}`),
      pending: sortedBy(plan.pending, (p) => p.resourceId.toLowerCase()),
      wakeAt: plan.wakeAt,
      waiting: [...plan.waiting].sort(),
    });
    fc.assert(
      fc.property(
        podsArb,
        podsArb,
        fc.boolean(),
        fc.constantFrom(0, 1000, GRACE),
        fc.integer(),
        (then, now, userFirst, advance, seed) => {
          // Reach a state with records, identities on ARM and pending removals, then change the pods.
          let world: World = {
            arm: userFirst ? [USER_OWNED, rid("other")] : [rid("other")],
            records: new Map(),
            pending: [],
          };
          const toPods = (ps: typeof then) => ps.map((p) => pod(p.name, p.node, p.selector));
          world = apply(world, planTarget(inputFor(world, desiredFor(toPods(then)), 0)));
          const desired = desiredFor(toPods(now));
          const shuffle = <T>(xs: readonly T[]) => {
            const rank = (x: T) => Bun.hash(`${seed}:${JSON.stringify(x)}`);
            return [...xs].sort((x, y) => (rank(x) < rank(y) ? -1 : rank(x) > rank(y) ? 1 : 0)).reverse();
          };
          const a = planTarget(inputFor(world, desired, advance));
          const b = planTarget({
            ...inputFor(world, shuffle(desired), advance),
            current: shuffle([...world.records.values()]),
            arm: shuffle(world.arm),
            pending: shuffle(world.pending),
          });
          expect(normal(b)).toEqual(normal(a));
        },
      ),
      { numRuns: 300 },
    );
  });
});
