// Legacy (unaggregated) discovery documents: /api, /api/v1, /apis, /apis/<group>[/<version>].
// Clients that ask for aggregated discovery (kubectl) fall back to these when served plain JSON.
import type { ResourceType } from "./resources.ts";

export const SERVER_VERSION = {
  major: "1",
  minor: "34",
  emulationMajor: "1",
  emulationMinor: "34",
  minCompatibilityMajor: "1",
  minCompatibilityMinor: "33",
  gitVersion: "v1.34.0",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2025-08-27T00:00:00Z",
  goVersion: "go1.24.6",
  compiler: "gc",
  platform: "linux/amd64",
};

const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

export function apiVersions(serverAddress: string) {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

export function resourceList(groupVersion: string, types: ResourceType[]) {
  const resources: object[] = [];
  for (const t of types) {
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: VERBS,
      ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
      ...(t.categories.length ? { categories: t.categories } : {}),
    });
    if (t.statusSubresource)
      resources.push({
        name: `${t.plural}/status`,
        singularName: "",
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["get", "patch", "update"],
      });
  }
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion, resources };
}

function groupOf(name: string, types: ResourceType[]) {
  // Every type of a group shares its versions in this emulator's tables; the first listed is preferred.
  const versions = [...new Set(types.flatMap((t) => t.versions))].sort(compareVersions);
  const list = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { name, versions: list, preferredVersion: list[0]! };
}

export function apiGroup(name: string, types: ResourceType[]) {
  return { kind: "APIGroup", apiVersion: "v1", ...groupOf(name, types) };
}

export function apiGroupList(all: ResourceType[]) {
  const byGroup = new Map<string, ResourceType[]>();
  for (const t of all) if (t.group !== "") byGroup.set(t.group, [...(byGroup.get(t.group) ?? []), t]);
  return { kind: "APIGroupList", apiVersion: "v1", groups: [...byGroup.entries()].map(([g, ts]) => groupOf(g, ts)) };
}

/** Kubernetes version priority: GA before beta before alpha, higher numbers first. */
export function compareVersions(a: string, b: string): number {
  const rank = (x: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(x);
    if (!m) return [3, 0, 0, x] as const;
    return [m[2] === undefined ? 0 : m[2] === "beta" ? 1 : 2, -Number(m[1]), -Number(m[3] ?? 0), x] as const;
  };
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return (ra[i] as number) - (rb[i] as number);
  return a.localeCompare(b);
}
