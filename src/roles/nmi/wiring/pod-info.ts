// What NMI reads off a core Pod: the plain PodInfo its server and resolvers take. Pure.
import type { Pod } from "../../../kube/objects.ts";
import type { PodInfo } from "../ports.ts";

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
