// Whether NMI is being uninstalled (then its iptables rules go) or just restarted (then they stay, so
// pods fail closed until the next NMI is up). NMI finds its DaemonSet through its own pod's owner;
// the pod is named by POD_NAME / POD_NAMESPACE (downward API). Without them it cannot tell and keeps the
// rules. The DaemonSet being gone (404) or carrying a deletionTimestamp means uninstalling.
import * as v from "valibot";
import type { KubeClient } from "../../../kube/client.ts";
import { KubeApiError } from "../../../kube/errors.ts";

const OwnedSchema = v.looseObject({
  metadata: v.looseObject({
    deletionTimestamp: v.optional(v.nullable(v.string())),
    ownerReferences: v.optional(
      v.nullable(v.array(v.looseObject({ kind: v.optional(v.string(), ""), name: v.optional(v.string(), "") }))),
    ),
  }),
});

/** Pure: the DaemonSet that owns a pod, from the pod's JSON. */
export function daemonSetOwner(pod: unknown): string | undefined {
  const parsed = v.safeParse(OwnedSchema, pod);
  if (!parsed.success) return undefined;
  return parsed.output.metadata.ownerReferences?.find((owner) => owner.kind === "DaemonSet")?.name || undefined;
}

/** Pure: a DaemonSet JSON that is being deleted. */
export function isBeingDeleted(obj: unknown): boolean {
  const parsed = v.safeParse(OwnedSchema, obj);
  return parsed.success && Boolean(parsed.output.metadata.deletionTimestamp);
}

export interface OwnPod {
  name: string;
  namespace: string;
}

export function ownPodFromEnv(env: Record<string, string | undefined>): OwnPod | undefined {
  const name = env.POD_NAME;
  const namespace = env.POD_NAMESPACE;
  return name && namespace ? { name, namespace } : undefined;
}

const isNotFound = (error: unknown) => error instanceof KubeApiError && error.code === 404;

export function uninstallCheck(client: KubeClient, own: OwnPod | undefined): () => Promise<boolean> {
  return async () => {
    if (!own) return false;
    const ns = encodeURIComponent(own.namespace);
    let owner: string | undefined;
    try {
      owner = daemonSetOwner(
        await client.requestJson("GET", `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(own.name)}`),
      );
    } catch (error) {
      if (isNotFound(error)) return false; // our pod is gone but that says nothing about the DaemonSet
      throw error;
    }
    if (!owner) return false;
    try {
      const daemonSet = await client.requestJson(
        "GET",
        `/apis/apps/v1/namespaces/${ns}/daemonsets/${encodeURIComponent(owner)}`,
      );
      return isBeingDeleted(daemonSet);
    } catch (error) {
      if (isNotFound(error)) return true;
      throw error;
    }
  };
}
