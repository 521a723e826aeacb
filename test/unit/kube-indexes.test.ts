import { describe, expect, test } from "bun:test";
import { parseCrd } from "../../src/kube/crds.ts";
import {
  assignedIdentityNodeIndex,
  assignedIdentityPodIndex,
  bindingNamespacedSelectorIndex,
  bindingSelectorIndex,
  podIpIndex,
} from "../../src/kube/indexes.ts";
import { parsePod } from "../../src/kube/objects.ts";

function pod(status: object) {
  const parsed = parsePod({ metadata: { name: "p", namespace: "ns" }, status });
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  return parsed.value;
}

function assigned(spec: object, labels?: Record<string, string>) {
  const parsed = parseCrd("AzureAssignedIdentity", { metadata: { name: "a", namespace: "default", labels }, spec });
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  return parsed.value;
}

function binding(selector: string, namespace = "team") {
  const parsed = parseCrd("AzureIdentityBinding", {
    metadata: { name: "b", namespace },
    spec: { azureIdentity: "id", selector },
  });
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  return parsed.value;
}

describe("podIpIndex", () => {
  test("indexes the IPs of Pending and Running pods only", () => {
    expect(podIpIndex(pod({ phase: "Running", podIP: "10.0.0.5" }))).toEqual(["10.0.0.5"]);
    expect(podIpIndex(pod({ phase: "Pending", podIP: "10.0.0.6" }))).toEqual(["10.0.0.6"]);
    for (const phase of ["Succeeded", "Failed", "Unknown", ""]) {
      expect(podIpIndex(pod({ phase, podIP: "10.0.0.7" }))).toEqual([]);
    }
  });

  test("includes every status.podIPs entry once, and nothing for a pod without an IP", () => {
    expect(
      podIpIndex(pod({ phase: "Running", podIP: "10.0.0.5", podIPs: [{ ip: "10.0.0.5" }, { ip: "fd00::5" }] })).sort(),
    ).toEqual(["10.0.0.5", "fd00::5"]);
    expect(podIpIndex(pod({ phase: "Pending" }))).toEqual([]);
  });
});

describe("assigned identity indexes", () => {
  test("by pod: <podNamespace>/<pod>; nothing without a pod", () => {
    expect(assignedIdentityPodIndex(assigned({ pod: "web", podNamespace: "shop" }))).toEqual(["shop/web"]);
    expect(assignedIdentityPodIndex(assigned({}))).toEqual([]);
  });

  test("by node: the nodename label and spec.nodename, each once", () => {
    expect(assignedIdentityNodeIndex(assigned({ nodename: "n1" }, { nodename: "n1" }))).toEqual(["n1"]);
    expect(assignedIdentityNodeIndex(assigned({ nodename: "n2" })).sort()).toEqual(["n2"]);
    expect(assignedIdentityNodeIndex(assigned({}, { nodename: "n3" }))).toEqual(["n3"]);
    expect(assignedIdentityNodeIndex(assigned({ nodename: "a" }, { nodename: "b" })).sort()).toEqual(["a", "b"]);
  });
});

describe("binding indexes", () => {
  test("by selector (exact string) and by <namespace>/<selector>; empty selectors are not indexed", () => {
    expect(bindingSelectorIndex(binding("Web"))).toEqual(["Web"]);
    expect(bindingNamespacedSelectorIndex(binding("web", "team-a"))).toEqual(["team-a/web"]);
    expect(bindingSelectorIndex(binding(""))).toEqual([]);
    expect(bindingNamespacedSelectorIndex(binding(""))).toEqual([]);
  });
});
