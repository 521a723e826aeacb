import { describe, expect, test } from "bun:test";
import type { AssignedState, AzureAssignedIdentity } from "../../src/kube/crds.ts";
import { newTargetMemory, reconcileTarget, type WorkerDeps } from "../../src/roles/mic/assignment-worker.ts";
import { systemClock } from "../../src/roles/mic/clock.ts";
import { computeDesiredState } from "../../src/roles/mic/desired-state.ts";
import { nodeTarget } from "../../src/roles/mic/node-target.ts";
import {
  type ArmIdentityPort,
  ArmPortError,
  type IdentityDelta,
  type MicEvent,
  silentLog,
} from "../../src/roles/mic/ports.ts";

const rid = (name: string) =>
  `/subscriptions/sub/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const target = nodeTarget(
  {
    name: "vm",
    providerId: "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
  },
  undefined,
);

function desiredWith(count: number) {
  const identities = Array.from({ length: count }, (_, i) => ({
    metadata: { namespace: "ns", name: `id${i}` },
    spec: { type: 0, resourceID: rid(`id${i}`), clientID: `c${i}` },
  }));
  const bindings = identities.map((i) => ({
    metadata: { namespace: "ns", name: `b-${i.metadata.name}` },
    spec: { azureIdentity: i.metadata.name, selector: "s" },
  }));
  return computeDesiredState({
    pods: [{ namespace: "ns", name: "p", nodeName: "vm", phase: "Running", labels: { aadpodidbinding: "s" } }],
    bindings,
    identities,
    forceNamespaced: false,
  }).assignments;
}

function deps(arm: ArmIdentityPort, events: MicEvent[] = [], maxRetry = 2): WorkerDeps {
  const store = new Map<string, AzureAssignedIdentity>();
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
    clock: systemClock,
    random: () => 0.5,
    options: {
      graceMs: 0,
      createDeleteBatch: 5,
      updateUserMsiMaxRetry: maxRetry,
      updateUserMsiRetryIntervalMs: 1,
      immutableClientIds: new Set(),
      targetBackoff: { baseMs: 1000, maxMs: 10_000 },
      identityBackoff: { baseMs: 1000, maxMs: 10_000 },
    },
  };
}

const snapshot = (desired: ReturnType<typeof desiredWith>) => ({
  target,
  desired,
  current: [],
  desiredElsewhere: () => false,
  existsElsewhere: () => false,
});

describe("assignment worker", () => {
  test("more than 150 identities are sent in PATCHes of at most 150, one after another", async () => {
    const patches: IdentityDelta[] = [];
    let inFlight = 0;
    const arm: ArmIdentityPort = {
      getIdentity: async () => ({ userAssignedIdentities: [] }),
      updateIdentities: async (_t, delta) => {
        inFlight++;
        expect(inFlight).toBe(1);
        patches.push(delta);
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
      },
    };
    const result = await reconcileTarget(deps(arm), snapshot(desiredWith(320)), newTargetMemory());
    expect(patches.map((p) => p.add.length)).toEqual([150, 150, 20]);
    expect(result.patches).toBe(3);
  });

  test("identities named by LinkedAuthorizationFailed are dropped and the rest retried, within --update-user-msi-max-retry", async () => {
    const patches: IdentityDelta[] = [];
    const arm: ArmIdentityPort = {
      getIdentity: async () => ({ userAssignedIdentities: [] }),
      updateIdentities: async (_t, delta) => {
        patches.push(delta);
        const bad = delta.add.filter((id) => id.endsWith("/id1"));
        if (bad.length)
          throw new ArmPortError({
            kind: "identity",
            code: "LinkedAuthorizationFailed",
            identityIds: bad.map((b) => b.toUpperCase()),
            message: "denied",
          });
      },
    };
    const events: MicEvent[] = [];
    const memory = newTargetMemory();
    const result = await reconcileTarget(deps(arm, events), snapshot(desiredWith(3)), memory);
    expect(patches).toHaveLength(2);
    expect(patches[1]?.add).toEqual([rid("id0"), rid("id2")]);
    expect(memory.refused.get(rid("id1").toLowerCase())).toMatchObject({
      attempts: 1,
      code: "LinkedAuthorizationFailed",
    });
    expect(result.retryAt).toBe(memory.refused.get(rid("id1").toLowerCase())?.until);
    expect(events.filter((e) => e.reason === "binding apply error").map((e) => e.object.name)).toEqual(["b-id1"]);
    expect(events.filter((e) => e.reason === "binding applied")).toHaveLength(2);
  });

  test("a 5xx backs the target off exponentially; no ARM call is made before the backoff ends", async () => {
    let calls = 0;
    const arm: ArmIdentityPort = {
      getIdentity: async () => {
        calls++;
        throw new ArmPortError({ kind: "other", statusCode: 503, message: "unavailable" });
      },
      updateIdentities: async () => {},
    };
    const memory = newTargetMemory();
    const first = await reconcileTarget(deps(arm), snapshot(desiredWith(1)), memory);
    const second = await reconcileTarget(deps(arm), snapshot(desiredWith(1)), memory);
    expect(calls).toBe(1);
    expect(second.retryAt).toBe(first.retryAt);
    expect(memory.retry.failures).toBe(1);
  });
});
