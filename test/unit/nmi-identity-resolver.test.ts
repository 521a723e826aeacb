import { describe, expect, test } from "bun:test";
import type { AzureAssignedIdentity, AzureIdentity } from "../../src/kube/crds.ts";
import { type Resolution, standardIdentityResolver } from "../../src/roles/nmi/identity-resolver.ts";
import { InMemoryAssignments } from "../../src/roles/nmi/in-memory-ports.ts";
import type { PodInfo } from "../../src/roles/nmi/ports.ts";
import { manualWaitClock } from "../support/manual-wait-clock.ts";

const id: AzureIdentity = {
  apiVersion: "aadpodidentity.k8s.io/v1",
  kind: "AzureIdentity",
  metadata: { name: "a", namespace: "ns" },
  spec: { type: 0, clientID: "cid", resourceID: "", tenantID: "", adEndpoint: "", adResourceID: "" },
};
const record = (status: "Created" | "Assigned"): AzureAssignedIdentity => ({
  apiVersion: "aadpodidentity.k8s.io/v1",
  kind: "AzureAssignedIdentity",
  metadata: { name: "p-ns-a", namespace: "ns" },
  spec: { azureIdentityRef: id, pod: "p", podNamespace: "ns", nodename: "n" },
  status: { status },
});
const pod: PodInfo = {
  name: "p",
  namespace: "ns",
  uid: "u",
  ip: "10.0.0.1",
  phase: "Running",
  labels: {},
  ownerReferences: [],
};
const budget = { retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, findIdentityRetryIntervalMs: 5000 };

describe("standard identity resolver", () => {
  test("resolves the moment an event makes the identity Assigned, without polling", async () => {
    const source = new InMemoryAssignments();
    const { clock, advance } = manualWaitClock();
    const resolve = standardIdentityResolver({
      source,
      budget,
      forceNamespaced: false,
      holdUntilAssigned: true,
      clock,
    });
    source.upsert(record("Created"));
    const pending = resolve(pod, { clientId: "", resourceId: "" });
    advance(7000);
    source.upsert(record("Assigned"));
    const result = await pending;
    expect(result.kind).toBe("found");
    expect(result.waitedMs).toBe(7000);
    expect(source.listenerCount).toBe(0);
  });

  test("with no record the wait ends at created-attempts × interval", async () => {
    const source = new InMemoryAssignments();
    const { clock, advance } = manualWaitClock();
    const resolve = standardIdentityResolver({
      source,
      budget,
      forceNamespaced: false,
      holdUntilAssigned: true,
      clock,
    });
    let settled = false;
    const pending = Promise.resolve(resolve(pod, { clientId: "", resourceId: "" })).finally(() => {
      settled = true;
    });
    advance(79_999);
    await Bun.sleep(0);
    expect(settled).toBe(false);
    advance(1);
    const result = await pending;
    expect(result.kind === "not-ready" && result.message).toContain("CREATED state failed after 16 attempts");
  });

  test("a record appearing in Created extends the wait to the full budget", async () => {
    const source = new InMemoryAssignments();
    const { clock, advance } = manualWaitClock();
    const resolve = standardIdentityResolver({
      source,
      budget,
      forceNamespaced: false,
      holdUntilAssigned: true,
      clock,
    });
    const pending = resolve(pod, { clientId: "", resourceId: "" });
    advance(50_000);
    source.upsert(record("Created"));
    advance(40_000); // 90 s: past the created deadline, within the 100 s one
    source.upsert(record("Assigned"));
    expect((await pending).kind).toBe("found");
  });

  test("an aborted request stops waiting and leaves no listener or timer", async () => {
    const source = new InMemoryAssignments();
    const { clock, pendingTimers } = manualWaitClock();
    const resolve = standardIdentityResolver({
      source,
      budget,
      forceNamespaced: false,
      holdUntilAssigned: true,
      clock,
    });
    const controller = new AbortController();
    const pending = resolve(pod, { clientId: "", resourceId: "" }, controller.signal);
    controller.abort();
    expect((await pending).kind).toBe("aborted");
    expect(source.listenerCount).toBe(0);
    expect(pendingTimers()).toBe(0);
  });

  test("without holding (Retry-After mode) an unassigned identity is answered at once", async () => {
    const source = new InMemoryAssignments();
    source.upsert(record("Created"));
    const resolve = standardIdentityResolver({ source, budget, forceNamespaced: false, holdUntilAssigned: false });
    const result = await resolve(pod, { clientId: "", resourceId: "" });
    expect(result.kind).toBe("not-ready");
  });

  describe("Unassigned records (MIC's grace period before deleting them) grant nothing and are not waited on", () => {
    const other: AzureIdentity = {
      ...id,
      metadata: { name: "b", namespace: "ns" },
      spec: { ...id.spec, clientID: "cid-b" },
    };
    const recordOf = (
      identity: AzureIdentity,
      status: "Created" | "Assigned" | "Unassigned",
    ): AzureAssignedIdentity => ({
      ...record("Assigned"),
      metadata: { name: `p-ns-${identity.metadata.name}`, namespace: "ns" },
      spec: { azureIdentityRef: identity, pod: "p", podNamespace: "ns", nodename: "n" },
      status: { status },
    });
    const resolverOver = (records: AzureAssignedIdentity[], holdUntilAssigned = true) => {
      const source = new InMemoryAssignments();
      for (const r of records) source.upsert(r);
      const { clock, pendingTimers } = manualWaitClock();
      const resolve = standardIdentityResolver({ source, budget, forceNamespaced: false, holdUntilAssigned, clock });
      return { resolve, pendingTimers, source };
    };

    test("Unassigned only: an immediate not-found (404), no wait", async () => {
      const { resolve, pendingTimers, source } = resolverOver([recordOf(id, "Unassigned")]);
      const result = await resolve(pod, { clientId: "", resourceId: "" });
      expect(result.kind).toBe("not-found");
      expect(result.waitedMs).toBe(0);
      expect(result.kind === "not-found" && result.message).toContain("Unassigned");
      expect(pendingTimers()).toBe(0);
      expect(source.listenerCount).toBe(0);
    });

    test("Unassigned A + Assigned B: B", async () => {
      const { resolve } = resolverOver([recordOf(id, "Unassigned"), recordOf(other, "Assigned")]);
      const result = await resolve(pod, { clientId: "", resourceId: "" });
      expect(result.kind === "found" && result.identity.spec.clientID).toBe("cid-b");
    });

    test("the Unassigned one's client_id: not-found at once, without waiting", async () => {
      const { resolve, pendingTimers } = resolverOver([recordOf(id, "Unassigned"), recordOf(other, "Assigned")]);
      const result = await resolve(pod, { clientId: "CID", resourceId: "" });
      expect(result.kind).toBe("not-found");
      expect(result.waitedMs).toBe(0);
      expect(pendingTimers()).toBe(0);
    });

    test("with another record of the pod still Created it is not-ready (503 + Retry-After with the flag), still at once", async () => {
      const { resolve, pendingTimers } = resolverOver([recordOf(id, "Unassigned"), recordOf(other, "Created")]);
      const result = await resolve(pod, { clientId: "cid", resourceId: "" });
      expect(result.kind).toBe("not-ready");
      expect(result.waitedMs).toBe(0);
      expect(pendingTimers()).toBe(0);
    });
  });

  test("a record whose identity has no client ID is refused at once with a clear message", async () => {
    const blank: AzureIdentity = { ...id, spec: { ...id.spec, clientID: "" } };
    const source = new InMemoryAssignments();
    source.upsert({ ...record("Assigned"), spec: { ...record("Assigned").spec, azureIdentityRef: blank } });
    const resolve = standardIdentityResolver({ source, budget, forceNamespaced: false, holdUntilAssigned: true });
    const result = await resolve(pod, { clientId: "", resourceId: "" });
    expect(result.kind).toBe("not-found");
    expect(result.kind === "not-found" && result.message).toContain("has no spec.clientID");
  });

  test("an identity already Assigned is resolved synchronously (no promise, no clock read)", () => {
    const source = new InMemoryAssignments();
    source.upsert(record("Assigned"));
    let clockReads = 0;
    const resolve = standardIdentityResolver({
      source,
      budget,
      forceNamespaced: false,
      holdUntilAssigned: true,
      clock: { now: () => ++clockReads, setTimer: () => () => {} },
    });
    const answer = resolve(pod, { clientId: "", resourceId: "" });
    expect(answer).not.toBeInstanceOf(Promise);
    expect((answer as Resolution).kind).toBe("found");
    expect(clockReads).toBe(0);
  });
});
