// Pods whose token requests skip identity checks and go straight to IMDS (§3.4, §5.3 step 6):
// pods matched by an AzurePodIdentityException in their own namespace, and MIC's own pods.
import type { AzurePodIdentityException } from "../../kube/crds.ts";

export interface ExceptionCandidate {
  namespace: string;
  labels: Readonly<Record<string, string>>;
  ownerReferences: readonly { kind: string; name: string }[];
}

/**
 * The original's rule: only exceptions in the pod's namespace count, and the pod is excepted when any
 * single label pair of any of them is on the pod with a value equal case-insensitively (an OR).
 */
export function isExceptedPod(pod: ExceptionCandidate, exceptions: readonly AzurePodIdentityException[]): boolean {
  for (const exception of exceptions) {
    if ((exception.metadata.namespace ?? "") !== pod.namespace) continue;
    for (const [key, value] of Object.entries(exception.spec.podLabels ?? {})) {
      const podValue = pod.labels[key];
      if (podValue !== undefined && podValue.toLowerCase() === value.toLowerCase()) return true;
    }
  }
  return false;
}

/** MIC itself: in --MICNamespace (case-insensitive) and owned by a ReplicaSet whose name starts with "mic". */
export function isMicPod(pod: ExceptionCandidate, micNamespace: string): boolean {
  if (pod.namespace.toLowerCase() !== micNamespace.toLowerCase()) return false;
  return pod.ownerReferences.some((owner) => owner.kind === "ReplicaSet" && owner.name.startsWith("mic"));
}
