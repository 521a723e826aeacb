// Ready-made informer indexes the roles look things up by. Index functions are pure: object -> keys.
import { type AzureAssignedIdentity, type AzureIdentityBinding, NODENAME_LABEL } from "./crds.ts";
import type { Pod } from "./objects.ts";

export const INDEX_POD_IP = "podIP";
export const INDEX_ASSIGNED_BY_POD = "assignedByPod";
export const INDEX_ASSIGNED_BY_NODE = "assignedByNode";
export const INDEX_BINDING_BY_SELECTOR = "bindingBySelector";
export const INDEX_BINDING_BY_NAMESPACED_SELECTOR = "bindingByNamespacedSelector";

/** Only these phases own their IP; a Succeeded/Failed pod's IP may already belong to a new pod. */
const LIVE_PHASES = new Set(["Pending", "Running"]);

/** A live pod's IPs (status.podIP plus status.podIPs), as NMI finds the caller by source address. */
export function podIpIndex(pod: Pod): string[] {
  if (!LIVE_PHASES.has(pod.status.phase)) return [];
  const ips = new Set<string>();
  if (pod.status.podIP) ips.add(pod.status.podIP);
  for (const entry of pod.status.podIPs ?? []) if (entry.ip) ips.add(entry.ip);
  return [...ips];
}

/** `<podNamespace>/<pod>` of the pod an assignment is for. */
export function assignedIdentityPodIndex(assigned: AzureAssignedIdentity): string[] {
  const { pod, podNamespace } = assigned.spec;
  return pod ? [`${podNamespace}/${pod}`] : [];
}

/** The node an assignment is for: the `nodename` label (what NMI's watch filters on) and spec.nodename. */
export function assignedIdentityNodeIndex(assigned: AzureAssignedIdentity): string[] {
  const nodes = new Set<string>();
  const label = assigned.metadata.labels?.[NODENAME_LABEL];
  if (label) nodes.add(label);
  if (assigned.spec.nodename) nodes.add(assigned.spec.nodename);
  return [...nodes];
}

/** A binding's selector (matched by exact equality against the pod's `aadpodidbinding` label). */
export function bindingSelectorIndex(binding: AzureIdentityBinding): string[] {
  return binding.spec.selector ? [binding.spec.selector] : [];
}

/** `<namespace>/<selector>`, for namespaced (managed-mode) matching. */
export function bindingNamespacedSelectorIndex(binding: AzureIdentityBinding): string[] {
  return binding.spec.selector ? [`${binding.metadata.namespace}/${binding.spec.selector}`] : [];
}

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
