import { describe, expect, test } from "bun:test";
import type { AssignedState, AzureAssignedIdentity } from "../../src/kube/crds.ts";
import { newTargetMemory, reconcileTarget, type WorkerDeps } from "../../src/roles/mic/assignment-worker.ts";
import type { Clock } from "../../src/roles/mic/clock.ts";
import { computeDesiredState, type DesiredAssignment } from "../../src/roles/mic/desired-state.ts";
import { type ArmTarget, nodeTarget } from "../../src/roles/mic/node-target.ts";
import { buildRecord } from "../../src/roles/mic/plan.ts";
import {
  type ArmIdentityPort,
  ArmPortError,
  type IdentityDelta,
  type MicEvent,
  silentLog,
  type TargetIdentities,
} from "../../src/roles/mic/ports.ts";

const rid = (name: string) =>
  `/subscriptions/sub/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const target = nodeTarget(
  {
    name: "vm",
    providerId: "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
  },
  undefined,
) as ArmTarget;

function desiredWith(count: number, prefix = "id", podName = "p") {
  const identities = Array.from({ length: count }, (_, i) => ({
    metadata: { namespace: "ns", name: `${prefix}${i}` },
    spec: { type: 0, resourceID: rid(`${prefix}${i}`), clientID: `c-${prefix}${i}` },
  }));
  const bindings = identities.map((i) => ({
    metadata: { namespace: "ns", name: `b-${i.metadata.name}` },
    spec: { azureIdentity: i.metadata.name, selector: "s" },
  }));
  return computeDesiredState({
    pods: [{ namespace: "ns", name: podName, nodeName: "vm", phase: "Running", labels: { aadpodidbinding: "s" } }],
    bindings,
    identities,
    forceNamespaced: false,
  }).assignments;
}

/** Virtual time: sleeping advances the clock at once and is remembered. */
class ManualClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private time = 1_000_000) {}
  now() {
    return this.time;
  }
  setTimer(): () => void {
    throw new Error("the worker sets no timers");
  }
  async sleep(ms: number) {
    this.sleeps.push(ms);
    this.time += ms;
  }
}

interface Call {
  op: "get" | "patch";
  at: number;
  delta?: IdentityDelta;
  current?: TargetIdentities;
}

/** ARM stand-in: one target's identities; `refuse` decides which identities a PATCH is refused for. */
class FakeArm implements ArmIdentityPort {
  readonly calls: Call[] = [];
  refuse: (delta: IdentityDelta, attempt: number) => string[] = () => [];
  constructor(
    private readonly clock: Clock,
    public ids: string[] = [],
    public type = ids.length > 0 ? "UserAssigned" : "None",
  ) {}
  async getIdentity(): Promise<TargetIdentities> {
    this.calls.push({ op: "get", at: this.clock.now() });
    return this.state();
  }
  async updateIdentities(_t: ArmTarget, delta: IdentityDelta, current: TargetIdentities): Promise<TargetIdentities> {
    const attempt = this.calls.filter((c) => c.op === "patch").length;
    this.calls.push({
      op: "patch",
      at: this.clock.now(),
      delta: structuredClone(delta),
      current: structuredClone(current),
    });
    const bad = this.refuse(delta, attempt);
    if (bad.length > 0)
      throw new ArmPortError({
        kind: "identity",
        code: "LinkedAuthorizationFailed",
        identityIds: bad,
        message: "denied",
      });
    const removed = new Set(delta.remove.map((id) => id.toLowerCase()));
    this.ids = [...this.ids.filter((id) => !removed.has(id.toLowerCase())), ...delta.add];
    if (this.ids.length > 0 && !/UserAssigned/.test(this.type))
      this.type = this.type === "SystemAssigned" ? "SystemAssigned, UserAssigned" : "UserAssigned";
    return this.state();
  }
  patches(): Call[] {
    return this.calls.filter((c) => c.op === "patch");
  }
  private state(): TargetIdentities {
    return { userAssignedIdentities: [...this.ids], type: this.type, provisioningState: "Succeeded" };
  }
}

function deps(
  arm: ArmIdentityPort,
  options: { events?: MicEvent[]; maxRetry?: number; retryIntervalMs?: number; clock?: Clock } = {},
): WorkerDeps {
  const store = new Map<string, AzureAssignedIdentity>();
  const events = options.events ?? [];
  return {
    arm,
    records: {
      create: async (r) => {
        store.set(r.metadata.name, r);
        return r;
      },
      update: async (r) => {
        store.set(r.metadata.name, r);
        return r;
      },
      patchStatus: async (_ns, name, status: AssignedState) => {
        const r = store.get(name) as AzureAssignedIdentity;
        return { ...r, status: { status } };
      },
      delete: async (_ns, name) => void store.delete(name),
    },
    events: { emit: (e) => events.push(e) },
    log: silentLog,
    clock: options.clock ?? new ManualClock(),
    random: () => 0.5,
    options: {
      graceMs: 0,
      createDeleteBatch: 5,
      updateUserMsiMaxRetry: options.maxRetry ?? 2,
      updateUserMsiRetryIntervalMs: options.retryIntervalMs ?? 1,
      immutableClientIds: new Set(),
      targetBackoff: { baseMs: 1000, maxMs: 10_000 },
      identityBackoff: { baseMs: 1000, maxMs: 10_000 },
    },
  };
}

const snapshot = (desired: readonly DesiredAssignment[], current: AzureAssignedIdentity[] = []) => ({
  target,
  desired,
  current,
  desiredElsewhere: () => false,
  existsElsewhere: () => false,
});

describe("assignment worker", () => {
  test("more than 150 identities are sent in PATCHes of at most 150, one after another", async () => {
    const patches: IdentityDelta[] = [];
    let inFlight = 0;
    const arm: ArmIdentityPort = {
      getIdentity: async () => ({ userAssignedIdentities: [], type: "None" }),
      updateIdentities: async (_t, delta, current) => {
        inFlight++;
        expect(inFlight).toBe(1);
        patches.push(delta);
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
        return { ...current, userAssignedIdentities: [...current.userAssignedIdentities, ...delta.add] };
      },
    };
    const result = await reconcileTarget(deps(arm), snapshot(desiredWith(320)), newTargetMemory());
    expect(patches.map((p) => p.add.length)).toEqual([150, 150, 20]);
    expect(result.patches).toBe(3);
  });

  test("a run reads the target once: GET, then each PATCH built from that read as the PATCHes before it left it", async () => {
    const clock = new ManualClock();
    // A system-assigned identity too: a PATCH built without this read could drop it.
    const arm = new FakeArm(clock, [rid("users-own")], "SystemAssigned, UserAssigned");
    await reconcileTarget(deps(arm, { clock }), snapshot(desiredWith(1)), newTargetMemory());
    expect(arm.calls.map((c) => c.op)).toEqual(["get", "patch"]);
    expect(arm.calls[1]?.current).toEqual({
      userAssignedIdentities: [rid("users-own")],
      type: "SystemAssigned, UserAssigned",
      provisioningState: "Succeeded",
    });

    const big = new FakeArm(clock);
    await reconcileTarget(deps(big, { clock }), snapshot(desiredWith(200)), newTargetMemory());
    expect(big.calls.map((c) => c.op)).toEqual(["get", "patch", "patch"]);
    expect(big.calls[1]?.current?.userAssignedIdentities).toEqual([]);
    expect(big.calls[2]?.current?.userAssignedIdentities).toHaveLength(150);
    expect(big.calls[2]?.current?.type).toBe("UserAssigned");
  });

  test("above 150 changes every addition is sent before any removal", async () => {
    const clock = new ManualClock();
    // 100 identities MIC put on the target for a pod that is gone; 120 new ones for a new pod.
    const gone = desiredWith(100, "old", "gone");
    const current = gone.map((d) => buildRecord(d, "Assigned", false));
    const arm = new FakeArm(
      clock,
      gone.map((d) => d.resourceId),
    );
    const result = await reconcileTarget(
      deps(arm, { clock }),
      snapshot(desiredWith(120, "new", "fresh"), current),
      newTargetMemory(),
    );
    const patches = arm.patches().map((c) => c.delta as IdentityDelta);
    expect(patches.map((p) => [p.add.length, p.remove.length])).toEqual([
      [120, 30],
      [0, 70],
    ]);
    const order = patches.flatMap((p) => [...p.add.map(() => "add"), ...p.remove.map(() => "remove")]);
    expect(order.lastIndexOf("add")).toBeLessThan(order.indexOf("remove"));
    expect(result.patches).toBe(2);
    expect(arm.ids.map((id) => id.toLowerCase()).sort()).toEqual(
      desiredWith(120, "new", "fresh")
        .map((d) => d.resourceId.toLowerCase())
        .sort(),
    );
  });

  test("identities named by LinkedAuthorizationFailed are dropped and the rest retried, within --update-user-msi-max-retry", async () => {
    const clock = new ManualClock();
    const arm = new FakeArm(clock);
    arm.refuse = (delta) => delta.add.filter((id) => id.endsWith("/id1")).map((id) => id.toUpperCase());
    const events: MicEvent[] = [];
    const memory = newTargetMemory();
    const result = await reconcileTarget(deps(arm, { events, clock }), snapshot(desiredWith(3)), memory);
    expect(arm.patches()).toHaveLength(2);
    expect(arm.patches()[1]?.delta?.add).toEqual([rid("id0"), rid("id2")]);
    expect(memory.refused.get(rid("id1").toLowerCase())).toMatchObject({
      attempts: 1,
      code: "LinkedAuthorizationFailed",
    });
    expect(result.retryAt).toBe(memory.refused.get(rid("id1").toLowerCase())?.until);
    expect(events.filter((e) => e.reason === "binding apply error").map((e) => e.object.name)).toEqual(["b-id1"]);
    expect(events.filter((e) => e.reason === "binding applied")).toHaveLength(2);
  });

  test("--update-user-msi-retry-interval spaces the retries of a refused PATCH", async () => {
    const clock = new ManualClock();
    const arm = new FakeArm(clock);
    // ARM refuses one more identity on each of the first two attempts; the third PATCH goes through.
    arm.refuse = (delta, attempt) => (attempt < 2 ? [delta.add[0] as string] : []);
    const started = clock.now();
    const memory = newTargetMemory();
    await reconcileTarget(deps(arm, { clock, retryIntervalMs: 1500 }), snapshot(desiredWith(4)), memory);
    expect(arm.patches().map((c) => c.at - started)).toEqual([0, 1500, 3000]);
    expect(clock.sleeps).toEqual([1500, 1500]);
    expect(arm.patches().map((c) => c.delta?.add.length)).toEqual([4, 3, 2]);
    expect(memory.retry.failures).toBe(0);
  });

  test("--update-user-msi-max-retry: once the retries are used up the run gives up and the target backs off", async () => {
    const clock = new ManualClock();
    const arm = new FakeArm(clock);
    arm.refuse = (delta) => [delta.add[0] as string];
    const events: MicEvent[] = [];
    const memory = newTargetMemory();
    const started = clock.now();
    const result = await reconcileTarget(
      deps(arm, { clock, events, maxRetry: 2, retryIntervalMs: 500 }),
      snapshot(desiredWith(4)),
      memory,
    );
    // One PATCH and two retries, 500 ms apart, then no more.
    expect(arm.patches().map((c) => c.at - started)).toEqual([0, 500, 1000]);
    expect(clock.sleeps).toEqual([500, 500]);
    expect(arm.ids).toEqual([]);
    expect(memory.retry.failures).toBe(1);
    expect(result.retryAt).toBe(memory.retry.notBefore);
    expect(memory.retry.notBefore).toBeGreaterThan(clock.now());
    // Nothing was confirmed: no record Assigned, the refused ones say why.
    expect(events.filter((e) => e.reason === "binding applied")).toEqual([]);
    expect(events.filter((e) => e.reason === "binding apply error")).toHaveLength(3);

    // --update-user-msi-max-retry=0: the first refusal ends the run, without waiting.
    const once = new FakeArm(clock);
    once.refuse = (delta) => [delta.add[0] as string];
    const quick = new ManualClock();
    const onceMemory = newTargetMemory();
    await reconcileTarget(deps(once, { clock: quick, maxRetry: 0 }), snapshot(desiredWith(4)), onceMemory);
    expect(once.patches()).toHaveLength(1);
    expect(quick.sleeps).toEqual([]);
    expect(onceMemory.retry.failures).toBe(1);
  });

  test("while ARM cannot be read (5xx, then backoff) records no longer desired still stop granting at once", async () => {
    let reads = 0;
    const arm: ArmIdentityPort = {
      getIdentity: async () => {
        reads++;
        throw new ArmPortError({ kind: "other", statusCode: 503, message: "unavailable" });
      },
      updateIdentities: async () => {
        throw new Error("no PATCH without a read");
      },
    };
    const statuses: string[] = [];
    const clock = new ManualClock();
    const d = deps(arm, { clock });
    d.records.patchStatus = async (_ns, name, status) => {
      statuses.push(`${name}:${status}`);
      return { ...buildRecord(desiredWith(1, "x", name)[0] as DesiredAssignment, status, false) };
    };
    const [a, b] = [desiredWith(1, "id", "a"), desiredWith(1, "id", "b")];
    const records = [...a, ...b].map((x) => buildRecord(x, "Assigned", false));
    const memory = newTargetMemory();
    // Pod a is gone: ARM fails, but its record is Unassigned anyway; b's stays Assigned.
    const first = await reconcileTarget(d, snapshot(b, records), memory);
    expect(reads).toBe(1);
    expect(statuses).toEqual(["a-ns-id0:Unassigned"]);
    expect(first.retryAt).toBe(memory.retry.notBefore);
    // Pod b goes during the backoff: no ARM call, and its record stops granting too.
    const second = await reconcileTarget(
      d,
      snapshot([], [{ ...records[0], status: { status: "Unassigned" } }, records[1]] as AzureAssignedIdentity[]),
      memory,
    );
    expect(reads).toBe(1);
    expect(statuses).toEqual(["a-ns-id0:Unassigned", "b-ns-id0:Unassigned"]);
    expect(second.retryAt).toBe(first.retryAt);
    expect(memory.retry.failures).toBe(1);
  });

  test("a 5xx backs the target off exponentially; no ARM call is made before the backoff ends", async () => {
    let calls = 0;
    const arm: ArmIdentityPort = {
      getIdentity: async () => {
        calls++;
        throw new ArmPortError({ kind: "other", statusCode: 503, message: "unavailable" });
      },
      updateIdentities: async () => {
        throw new Error("no PATCH without a read");
      },
    };
    const memory = newTargetMemory();
    const first = await reconcileTarget(deps(arm), snapshot(desiredWith(1)), memory);
    const second = await reconcileTarget(deps(arm), snapshot(desiredWith(1)), memory);
    expect(calls).toBe(1);
    expect(second.retryAt).toBe(first.retryAt);
    expect(memory.retry.failures).toBe(1);
  });
});
