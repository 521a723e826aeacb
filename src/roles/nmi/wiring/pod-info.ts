// What NMI reads off a core Pod: the plain PodInfo its server and resolvers take. Pure.
import type { Pod } from "../../../kube/objects.ts";
import type { PodInfo, PodLookupResult } from "../ports.ts";

export function podInfoOf(pod: Pod): PodInfo {
  return {
    name: pod.metadata.name,
    namespace: pod.metadata.namespace,
    uid: pod.metadata.uid ?? "",
    ip: pod.status.podIP,
    phase: pod.status.phase,
    labels: pod.metadata.labels ?? {},
    ownerReferences: (pod.metadata.ownerReferences ?? []).map((owner) => ({ kind: owner.kind, name: owner.name })),
    terminating: Boolean(pod.metadata.deletionTimestamp),
  };
}

/**
 * The caller among the live pods holding a source IP. A pod being deleted keeps its IP during its grace
 * period (it may still ask for tokens), so it is only set aside when another, non-terminating pod already
 * holds the same IP: after an IP is reused, the stale entry must not make the new pod's requests fail.
 */
export function pickCaller(candidates: readonly PodInfo[]): PodLookupResult {
  if (candidates.length === 0) return { kind: "none" };
  if (candidates.length === 1) return { kind: "found", pod: candidates[0]! };
  const current = candidates.filter((pod) => !pod.terminating);
  if (current.length === 1) return { kind: "found", pod: current[0]! };
  return { kind: "ambiguous", pods: current.length > 1 ? current : [...candidates] };
}
