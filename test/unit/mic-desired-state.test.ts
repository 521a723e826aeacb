import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { BEHAVIOR_ANNOTATION } from "../../src/kube/crds.ts";
import { computeDesiredState, type PodInfo } from "../../src/roles/mic/desired-state.ts";

const rid = (name: string) =>
  `/subscriptions/sub/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const identity = (
  namespace: string,
  name: string,
  extra: { annotations?: Record<string, string>; spec?: object } = {},
) => ({
  apiVersion: "aadpodidentity.k8s.io/v1",
  kind: "AzureIdentity",
  metadata: { namespace, name, annotations: extra.annotations },
  spec: { type: 0, resourceID: rid(name), clientID: `client-${namespace}-${name}`, ...(extra.spec ?? {}) },
});
const binding = (namespace: string, name: string, azureIdentity: string, selector: string) => ({
  metadata: { namespace, name },
  spec: { azureIdentity, selector },
});
const pod = (
  namespace: string,
  name: string,
  nodeName: string | undefined,
  selector: string,
  phase = "Running",
): PodInfo => ({
  namespace,
  name,
  uid: `${namespace}-${name}`,
  nodeName,
  phase,
  labels: { aadpodidbinding: selector },
});

describe("desired state", () => {
  test("a labelled, scheduled pod gets one record per identity its selector binds, named as aad-pod-identity did", () => {
    const state = computeDesiredState({
      pods: [pod("app", "web-0", "node-1", "web")],
      bindings: [binding("app", "b1", "reader", "web"), binding("app", "b2", "writer", "web")],
      identities: [identity("app", "reader"), identity("app", "writer")],
      forceNamespaced: false,
    });
    expect(state.assignments.map((a) => a.key)).toEqual(["default/web-0-app-reader", "default/web-0-app-writer"]);
    expect(state.assignments[0]).toMatchObject({
      podName: "web-0",
      podNamespace: "app",
      nodeName: "node-1",
      clientId: "client-app-reader",
      resourceId: rid("reader"),
      identityType: 0,
    });
    expect(state.problems).toEqual([]);
  });

  test("unscheduled, unlabelled and completed (Succeeded, Failed) pods hold no identity; Pending does", () => {
    const state = computeDesiredState({
      pods: [
        pod("app", "unscheduled", undefined, "web"),
        pod("app", "empty-label", "n", ""),
        pod("app", "done", "n", "web", "Succeeded"),
        pod("app", "failed", "n", "web", "Failed"),
        pod("app", "pending", "n", "web", "Pending"),
      ],
      bindings: [binding("app", "b", "reader", "web")],
      identities: [identity("app", "reader")],
      forceNamespaced: false,
    });
    expect(state.assignments.map((a) => a.podName)).toEqual(["pending"]);
  });

  test("bindings in any namespace match unless namespaced (flag or per-identity annotation)", () => {
    const input = {
      pods: [pod("app", "web-0", "n", "sel")],
      bindings: [binding("other", "b", "id", "sel")],
      identities: [identity("other", "id")],
    };
    expect(computeDesiredState({ ...input, forceNamespaced: false }).assignments).toHaveLength(1);
    expect(computeDesiredState({ ...input, forceNamespaced: true }).assignments).toHaveLength(0);
    const annotated = computeDesiredState({
      ...input,
      identities: [identity("other", "id", { annotations: { [BEHAVIOR_ANNOTATION]: "namespaced" } })],
      forceNamespaced: false,
    });
    expect(annotated.assignments).toHaveLength(0);
  });

  test("namespaced records live in the identity's namespace, others in default", () => {
    const state = computeDesiredState({
      pods: [pod("app", "web-0", "n", "sel")],
      bindings: [binding("app", "b", "id", "sel")],
      identities: [identity("app", "id")],
      forceNamespaced: true,
    });
    expect(state.assignments[0]?.namespace).toBe("app");
  });

  test("an identity with an invalid resourceID or type is skipped with a Warning problem, never an exception", () => {
    const state = computeDesiredState({
      pods: [pod("app", "web-0", "n", "sel")],
      bindings: [
        binding("app", "b1", "bad-rid", "sel"),
        binding("app", "b2", "bad-type", "sel"),
        binding("app", "b3", "ok", "sel"),
      ],
      identities: [
        identity("app", "bad-rid", { spec: { resourceID: "not-an-arm-id" } }),
        identity("app", "bad-type", { spec: { type: 7 } }),
        identity("app", "ok"),
        { metadata: "garbage" },
      ],
      forceNamespaced: false,
    });
    expect(state.assignments.map((a) => a.identity.metadata.name)).toEqual(["ok"]);
    const warned = state.problems.filter((p) => p.warn && p.kind === "AzureIdentity").map((p) => p.name);
    expect(warned).toContain("bad-rid");
    expect(warned).toContain("bad-type");
    expect(state.problems.find((p) => p.name === "bad-rid")?.message).toContain("spec.resourceID");
  });

  test("several bindings selecting the same identity for one pod give one record (first binding by ns/name)", () => {
    const state = computeDesiredState({
      pods: [pod("app", "web-0", "n", "sel")],
      bindings: [binding("app", "zz", "id", "sel"), binding("app", "aa", "id", "sel")],
      identities: [identity("app", "id")],
      forceNamespaced: false,
    });
    expect(state.assignments).toHaveLength(1);
    expect(state.assignments[0]?.binding.metadata.name).toBe("aa");
  });

  test("same-named identities in two namespaces bound to one pod both get a record (issue #1065 fixed)", () => {
    const state = computeDesiredState({
      pods: [pod("app", "web-0", "n", "sel")],
      bindings: [binding("ns-a", "b", "id", "sel"), binding("ns-b", "b", "id", "sel")],
      identities: [identity("ns-a", "id"), identity("ns-b", "id")],
      forceNamespaced: false,
    });
    expect(state.assignments).toHaveLength(2);
    expect(new Set(state.assignments.map((a) => a.key)).size).toBe(2);
  });

  test("service principal identities are desired without an ARM resource ID", () => {
    const state = computeDesiredState({
      pods: [pod("app", "web-0", "n", "sel")],
      bindings: [binding("app", "b", "sp", "sel")],
      identities: [
        {
          metadata: { namespace: "app", name: "sp" },
          spec: { type: 1, clientID: "c", tenantID: "t", clientPassword: { name: "s" } },
        },
      ],
      forceNamespaced: false,
    });
    expect(state.assignments[0]).toMatchObject({ identityType: 1, resourceId: "" });
  });

  test("property: the result does not depend on the order of pods, bindings or identities", () => {
    const ns = fc.constantFrom("a", "b");
    const sel = fc.constantFrom("s1", "s2", "s3");
    const idName = fc.constantFrom("i1", "i2", "x-y");
    const inputArb = fc.record({
      pods: fc.uniqueArray(
        fc.record({
          ns,
          name: fc.constantFrom("p", "p-a", "q", "x"),
          node: fc.constantFrom("n1", "n2"),
          sel,
          phase: fc.constantFrom("Running", "Succeeded", "Pending"),
        }),
        { selector: (p) => `${p.ns}/${p.name}`, maxLength: 8 },
      ),
      bindings: fc.uniqueArray(fc.record({ ns, name: fc.constantFrom("b1", "b2", "b3"), id: idName, sel }), {
        selector: (b) => `${b.ns}/${b.name}`,
        maxLength: 6,
      }),
      identities: fc.uniqueArray(fc.record({ ns, name: idName, namespaced: fc.boolean(), valid: fc.boolean() }), {
        selector: (i) => `${i.ns}/${i.name}`,
        maxLength: 6,
      }),
      forceNamespaced: fc.boolean(),
    });
    fc.assert(
      fc.property(inputArb, fc.integer(), (input, seed) => {
        const pods = input.pods.map((p) => pod(p.ns, p.name, p.node, p.sel, p.phase));
        const bindings = input.bindings.map((b) => binding(b.ns, b.name, b.id, b.sel));
        const identities = input.identities.map((i) =>
          identity(i.ns, i.name, {
            annotations: i.namespaced ? { [BEHAVIOR_ANNOTATION]: "namespaced" } : {},
            spec: i.valid ? {} : { resourceID: "bad" },
          }),
        );
        const shuffle = <T>(xs: T[]) => {
          const rank = (x: T) => Bun.hash(`${seed}:${JSON.stringify(x)}`);
          return [...xs].sort((x, y) => (rank(x) < rank(y) ? -1 : rank(x) > rank(y) ? 1 : 0));
        };
        const a = computeDesiredState({ pods, bindings, identities, forceNamespaced: input.forceNamespaced });
        const b = computeDesiredState({
          pods: shuffle(pods).reverse(),
          bindings: shuffle(bindings),
          identities: shuffle(identities),
          forceNamespaced: input.forceNamespaced,
        });
        expect(b).toEqual(a);
        expect(new Set(a.assignments.map((x) => x.key)).size).toBe(a.assignments.length);
      }),
    );
  });
});
