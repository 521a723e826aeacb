// What MIC reads off core objects, as the plain data the controller takes. Pure.
import type { Node, Pod } from "../../../kube/objects.ts";
import type { PodInfo } from "../desired-state.ts";
import type { NodeInfo } from "../node-target.ts";

export function podInfoOf(pod: Pod): PodInfo {
  const meta = pod.metadata as Pod["metadata"] & { creationTimestamp?: unknown };
  return {
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    nodeName: pod.spec.nodeName || undefined,
    phase: pod.status.phase || undefined,
    labels: pod.metadata.labels ?? undefined,
    creationTimestamp: typeof meta.creationTimestamp === "string" ? meta.creationTimestamp : undefined,
  };
}

export function nodeInfoOf(node: Node): NodeInfo {
  return { name: node.metadata.name, providerId: node.spec.providerID || undefined };
}
