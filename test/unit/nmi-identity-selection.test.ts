import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { AzureAssignedIdentity, AzureIdentity } from "../../src/kube/crds.ts";
import { type IdentityRequest, selectIdentity } from "../../src/roles/nmi/identity-selection.ts";

function identity(name: string, namespace: string, clientID: string, namespacedAnnotation = false): AzureIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentity",
    metadata: {
      name,
      namespace,
      annotations: namespacedAnnotation ? { "aadpodidentity.k8s.io/Behavior": "namespaced" } : undefined,
    },
    spec: {
      type: 0,
      resourceID: `/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
      clientID,
      tenantID: "",
      adEndpoint: "",
      adResourceID: "",
    },
  };
}

function record(id: AzureIdentity, status: "" | "Created" | "Assigned" | "Unassigned"): AzureAssignedIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureAssignedIdentity",
    metadata: { name: `pod-ns-${id.metadata.name}-${id.metadata.namespace}`, namespace: "default" },
    spec: { azureIdentityRef: id, pod: "pod", podNamespace: "ns", nodename: "n1" },
    status: { status },
  };
}

const none: IdentityRequest = { clientId: "", resourceId: "" };
const ctx = { podNamespace: "ns", forceNamespaced: false };
const A = identity("a", "ns", "AAAA-1111");
const B = identity("b", "other", "bbbb-2222");

describe("selectIdentity", () => {
  test("no records yet means waiting for MIC to create one", () => {
    expect(selectIdentity([], none, ctx).kind).toBe("wait-created");
  });

  test("a Created record means waiting for Assigned", () => {
    expect(selectIdentity([record(A, "Created")], none, ctx).kind).toBe("wait-assigned");
  });

  test("an Assigned record is found", () => {
    const selection = selectIdentity([record(A, "Assigned")], none, ctx);
    expect(selection.kind === "found" && selection.identity.metadata.name).toBe("a");
  });

  test("an Unassigned record never serves and is not waited on", () => {
    expect(selectIdentity([record(A, "Unassigned")], none, ctx)).toEqual({
      kind: "unassigned",
      identities: ["ns/a"],
      otherCreated: false,
    });
  });

  test("Unassigned A and Assigned B: B serves", () => {
    const selection = selectIdentity([record(A, "Unassigned"), record(B, "Assigned")], none, ctx);
    expect(selection.kind === "found" && selection.identity.metadata.name).toBe("b");
  });

  test("asking for the Unassigned identity by client_id or msi_res_id is refused at once, even with B Assigned", () => {
    const records = [record(A, "Unassigned"), record(B, "Assigned")];
    expect(selectIdentity(records, { clientId: A.spec.clientID, resourceId: "" }, ctx).kind).toBe("unassigned");
    expect(selectIdentity(records, { clientId: "", resourceId: A.spec.resourceID }, ctx).kind).toBe("unassigned");
  });

  test("an Unassigned match notes whether another record of the pod is still Created", () => {
    const records = [record(A, "Unassigned"), record(B, "Created")];
    expect(selectIdentity(records, { clientId: A.spec.clientID, resourceId: "" }, ctx)).toEqual({
      kind: "unassigned",
      identities: ["ns/a"],
      otherCreated: true,
    });
  });

  test("a new Created record for an identity whose old record is Unassigned is waited for", () => {
    const again = { ...record(A, "Created"), metadata: { name: "pod-ns-a-2", namespace: "default" } };
    expect(selectIdentity([record(A, "Unassigned"), again], none, ctx).kind).toBe("wait-assigned");
  });

  test("an identity without a client ID is refused at once, never chosen", () => {
    const blank = identity("blank", "ns", "");
    expect(selectIdentity([record(blank, "Assigned")], none, ctx)).toEqual({
      kind: "not-found",
      reason: "no-client-id",
      identities: ["ns/blank"],
    });
    expect(
      selectIdentity([record({ ...blank, spec: { ...blank.spec, clientID: "  " } }, "Created")], none, ctx).kind,
    ).toBe("not-found");
    const selection = selectIdentity([record(blank, "Assigned"), record(B, "Assigned")], none, ctx);
    expect(selection.kind === "found" && selection.identity.metadata.name).toBe("b");
  });

  test("client_id matches case-insensitively (the original 404ed on case after waiting)", () => {
    const records = [record(A, "Assigned"), record(B, "Assigned")];
    const upper = selectIdentity(records, { clientId: "BBBB-2222", resourceId: "" }, ctx);
    expect(upper.kind === "found" && upper.identity.metadata.name).toBe("b");
  });

  test("msi_res_id matches case-insensitively", () => {
    const records = [record(A, "Assigned"), record(B, "Assigned")];
    const selection = selectIdentity(records, { clientId: "", resourceId: B.spec.resourceID.toUpperCase() }, ctx);
    expect(selection.kind === "found" && selection.identity.metadata.name).toBe("b");
  });

  test("a requested client_id that matches nothing waits (MIC may still create it)", () => {
    expect(selectIdentity([record(A, "Assigned")], { clientId: "zzzz", resourceId: "" }, ctx).kind).toBe(
      "wait-created",
    );
  });

  test("a Created match is waited for even when another identity is already Assigned", () => {
    const records = [record(A, "Assigned"), record(B, "Created")];
    expect(selectIdentity(records, { clientId: B.spec.clientID, resourceId: "" }, ctx).kind).toBe("wait-assigned");
  });

  test("with forceNamespaced, identities from other namespaces are refused at once", () => {
    const selection = selectIdentity([record(B, "Assigned")], none, { podNamespace: "ns", forceNamespaced: true });
    expect(selection).toEqual({ kind: "not-found", reason: "namespace" });
  });

  test("the per-identity namespaced annotation applies without the global flag", () => {
    const annotated = identity("c", "other", "cccc", true);
    expect(selectIdentity([record(annotated, "Assigned")], none, ctx).kind).toBe("not-found");
    expect(selectIdentity([record(B, "Assigned")], none, ctx).kind).toBe("found");
  });

  test("with nothing requested the choice prefers legacy status, then the pod's namespace, then names", () => {
    const other = identity("a", "zzz", "1");
    const mine = identity("z", "ns", "2");
    const pick = (records: AzureAssignedIdentity[]) => {
      const s = selectIdentity(records, none, ctx);
      return s.kind === "found" ? `${s.identity.metadata.namespace}/${s.identity.metadata.name}` : s.kind;
    };
    expect(pick([record(other, "Assigned"), record(mine, "Assigned")])).toBe("ns/z");
    expect(pick([record(mine, "Assigned"), record(other, "")])).toBe("zzz/a");
  });

  test("property: the choice does not depend on the order of the records", () => {
    const ids = ["a", "b", "c", "d"].flatMap((name) => ["ns", "x"].map((ns) => identity(name, ns, `${name}-${ns}`)));
    const arbRecords = fc.uniqueArray(
      fc.tuple(fc.constantFrom(...ids), fc.constantFrom("" as const, "Created" as const, "Assigned" as const)),
      { selector: ([id]) => `${id.metadata.namespace}/${id.metadata.name}`, maxLength: 8 },
    );
    fc.assert(
      fc.property(arbRecords, fc.boolean(), (pairs, forced) => {
        const records = pairs.map(([id, status]) => record(id, status));
        const context = { podNamespace: "ns", forceNamespaced: forced };
        const forward = selectIdentity(records, none, context);
        const backward = selectIdentity([...records].reverse(), none, context);
        expect(backward).toEqual(forward);
        if (forward.kind === "found") {
          expect(forward.record.status.status).not.toBe("Created");
          if (forced) expect(forward.identity.metadata.namespace).toBe("ns");
        }
      }),
    );
  });
});
