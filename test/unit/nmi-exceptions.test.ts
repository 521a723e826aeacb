import { describe, expect, test } from "bun:test";
import type { AzurePodIdentityException } from "../../src/kube/crds.ts";
import { isExceptedPod, isMicPod } from "../../src/roles/nmi/exceptions.ts";

function exception(namespace: string, podLabels: Record<string, string>): AzurePodIdentityException {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzurePodIdentityException",
    metadata: { name: "e", namespace },
    spec: { podLabels },
  };
}
const pod = (labels: Record<string, string>, namespace = "ns", owners: { kind: string; name: string }[] = []) => ({
  namespace,
  labels,
  ownerReferences: owners,
});

describe("AzurePodIdentityException", () => {
  test("any single matching label pair excepts the pod (OR across pairs)", () => {
    const exceptions = [exception("ns", { app: "x", tier: "nope" })];
    expect(isExceptedPod(pod({ app: "x" }), exceptions)).toBe(true);
  });

  test("values compare case-insensitively, keys exactly", () => {
    expect(isExceptedPod(pod({ app: "CUSTOM" }), [exception("ns", { app: "custom" })])).toBe(true);
    expect(isExceptedPod(pod({ App: "custom" }), [exception("ns", { app: "custom" })])).toBe(false);
  });

  test("only exceptions in the pod's namespace count", () => {
    expect(isExceptedPod(pod({ app: "x" }), [exception("other", { app: "x" })])).toBe(false);
  });

  test("no matching pair means no exception", () => {
    expect(isExceptedPod(pod({ app: "y" }), [exception("ns", { app: "x" })])).toBe(false);
    expect(isExceptedPod(pod({}), [exception("ns", {})])).toBe(false);
  });
});

describe("MIC pod", () => {
  test("a pod in the MIC namespace owned by a ReplicaSet named mic-* is MIC", () => {
    expect(isMicPod(pod({}, "Kube-System", [{ kind: "ReplicaSet", name: "mic-5d9f" }]), "kube-system")).toBe(true);
  });

  test("other namespaces, owners or names are not MIC", () => {
    expect(isMicPod(pod({}, "default", [{ kind: "ReplicaSet", name: "mic-5d9f" }]), "kube-system")).toBe(false);
    expect(isMicPod(pod({}, "kube-system", [{ kind: "StatefulSet", name: "mic" }]), "kube-system")).toBe(false);
    expect(isMicPod(pod({}, "kube-system", [{ kind: "ReplicaSet", name: "nmi-1" }]), "kube-system")).toBe(false);
  });
});
