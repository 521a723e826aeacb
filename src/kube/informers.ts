// Informers for what the roles watch, each with its ready-made indexes already registered.
import type { KubeClient } from "./client.ts";
import {
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
  type AzurePodIdentityException,
  type CrdKind,
  type CrdObject,
  GROUP,
  PLURALS,
  parseCrd,
  VERSION,
} from "./crds.ts";
import {
  assignedIdentityNodeIndex,
  assignedIdentityPodIndex,
  bindingNamespacedSelectorIndex,
  bindingSelectorIndex,
  INDEX_ASSIGNED_BY_NODE,
  INDEX_ASSIGNED_BY_POD,
  INDEX_BINDING_BY_NAMESPACED_SELECTOR,
  INDEX_BINDING_BY_SELECTOR,
  INDEX_POD_IP,
  podIpIndex,
} from "./indexes.ts";
import { Informer, type InformerOptions } from "./informer.ts";
import { type Node, type Pod, parseNode, parsePod } from "./objects.ts";

/** Options shared by the factories: everything but client, path and parse. */
export type InformerSettings<T> = Omit<InformerOptions<T>, "client" | "path" | "parse"> & {
  /** Restrict to one namespace; all namespaces when absent. */
  namespace?: string;
};

function corePath(resource: string, namespace?: string): string {
  return namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}` : `/api/v1/${resource}`;
}

export function crdPath(kind: CrdKind, namespace?: string): string {
  const base = `/apis/${GROUP}/${VERSION}`;
  return namespace
    ? `${base}/namespaces/${encodeURIComponent(namespace)}/${PLURALS[kind]}`
    : `${base}/${PLURALS[kind]}`;
}

/** Pods, indexed by IP (live pods only). NMI passes fieldSelector `spec.nodeName=<node>`. */
export function podInformer(client: KubeClient, settings: InformerSettings<Pod> = {}): Informer<Pod> {
  const { namespace, ...rest } = settings;
  return new Informer<Pod>({ ...rest, client, path: corePath("pods", namespace), parse: parsePod }).addIndex(
    INDEX_POD_IP,
    podIpIndex,
  );
}

export function nodeInformer(
  client: KubeClient,
  settings: Omit<InformerSettings<Node>, "namespace"> = {},
): Informer<Node> {
  return new Informer<Node>({ ...settings, client, path: "/api/v1/nodes", parse: parseNode });
}

export function crdInformer<K extends CrdKind>(
  client: KubeClient,
  kind: K,
  settings: InformerSettings<CrdObject<K>> = {},
): Informer<CrdObject<K>> {
  const { namespace, ...rest } = settings;
  return new Informer<CrdObject<K>>({
    ...rest,
    client,
    path: crdPath(kind, namespace),
    parse: (raw) => parseCrd(kind, raw),
  });
}

export function azureIdentityInformer(
  client: KubeClient,
  settings?: InformerSettings<AzureIdentity>,
): Informer<AzureIdentity> {
  return crdInformer(client, "AzureIdentity", settings);
}

/** Bindings, indexed by selector and by `<namespace>/<selector>`. */
export function azureIdentityBindingInformer(
  client: KubeClient,
  settings?: InformerSettings<AzureIdentityBinding>,
): Informer<AzureIdentityBinding> {
  return crdInformer(client, "AzureIdentityBinding", settings)
    .addIndex(INDEX_BINDING_BY_SELECTOR, bindingSelectorIndex)
    .addIndex(INDEX_BINDING_BY_NAMESPACED_SELECTOR, bindingNamespacedSelectorIndex);
}

/** Assignments, indexed by pod (`<ns>/<name>`) and by node. NMI passes labelSelector `nodename=<node>`. */
export function azureAssignedIdentityInformer(
  client: KubeClient,
  settings?: InformerSettings<AzureAssignedIdentity>,
): Informer<AzureAssignedIdentity> {
  return crdInformer(client, "AzureAssignedIdentity", settings)
    .addIndex(INDEX_ASSIGNED_BY_POD, assignedIdentityPodIndex)
    .addIndex(INDEX_ASSIGNED_BY_NODE, assignedIdentityNodeIndex);
}

export function azurePodIdentityExceptionInformer(
  client: KubeClient,
  settings?: InformerSettings<AzurePodIdentityException>,
): Informer<AzurePodIdentityException> {
  return crdInformer(client, "AzurePodIdentityException", settings);
}
