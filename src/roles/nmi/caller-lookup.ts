// Who is calling, from the pods that hold a source IP in NMI's view: which one is the caller, and whether
// the answer may still improve by waiting for the pod informer. Pure.
import type { PodInfo, PodLookupResult } from "./ports.ts";

/**
 * The caller among the live pods holding a source IP. A pod being deleted keeps its IP during its grace
 * period (it may still ask for tokens), so it is only set aside when another, non-terminating pod already
 * holds the same IP: after an IP is reused, the stale entry must not make the new pod's requests fail.
 * When only terminating pods hold the IP, awaitsNewerPod tells the server to wait for a newer one first.
 */
export function pickCaller(candidates: readonly PodInfo[]): PodLookupResult {
  if (candidates.length === 0) return { kind: "none" };
  if (candidates.length === 1) return { kind: "found", pod: candidates[0]! };
  const current = candidates.filter((pod) => !pod.terminating);
  if (current.length === 1) return { kind: "found", pod: current[0]! };
  return { kind: "ambiguous", pods: current.length > 1 ? current : [...candidates] };
}

/**
 * Whether a lookup may still turn into a better answer, so the server waits on the pod informer (up to
 * its pod lookup wait) before acting on it: no pod holds the IP yet, or only pods being deleted do. In
 * the second case the IP may already be a new pod's (the CNI reuses an IP once the old sandbox is gone,
 * and the new pod's podIP can reach NMI's informer after its first request); a non-terminating pod that
 * appears meanwhile is the caller (pickCaller), else, at the deadline, the terminating one still is.
 */
export function awaitsNewerPod(result: PodLookupResult): boolean {
  switch (result.kind) {
    case "none":
      return true;
    case "found":
      return result.pod.terminating === true;
    case "ambiguous":
      return result.pods.every((pod) => pod.terminating === true);
  }
}
