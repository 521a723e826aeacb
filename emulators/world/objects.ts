// Kubernetes objects of the emulated world, shaped as a real AKS cluster has them. Pure builders.
import { API_VERSION, BINDING_LABEL, IdentityType } from "../../src/kube/crds.ts";
import type { KubeObject } from "../kube/index.ts";
import type { WorldNode } from "./naming.ts";

export function nodeObject(node: WorldNode, location: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: node.name,
      labels: {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        agentpool: node.pool,
        "kubernetes.azure.com/agentpool": node.pool,
        "node.kubernetes.io/instance-type": "Standard_D2s_v3",
        "topology.kubernetes.io/region": location,
      },
    },
    spec: { providerID: node.providerID },
    status: {
      addresses: [
        { type: "InternalIP", address: node.internalIP },
        { type: "Hostname", address: node.name },
      ],
      conditions: [
        { type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status" },
      ],
    },
  };
}

export interface IdentityRef {
  resourceId: string;
  clientId: string;
  principalId: string;
}

export function azureIdentityObject(
  name: string,
  namespace: string,
  identity: IdentityRef,
  annotations: Record<string, string> = {},
): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: "AzureIdentity",
    metadata: { name, namespace, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
    spec: { type: IdentityType.UserAssignedMSI, resourceID: identity.resourceId, clientID: identity.clientId },
  };
}

export function azureIdentityBindingObject(
  name: string,
  namespace: string,
  azureIdentity: string,
  selector: string,
): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: "AzureIdentityBinding",
    metadata: { name, namespace },
    spec: { azureIdentity, selector },
  };
}

export interface PodOptions {
  node: string;
  /** status.podIP: the source address NMI sees this pod's requests come from. */
  ip: string;
  namespace?: string;
  /** Value of the `aadpodidbinding` label (the binding's selector); none when absent. */
  binding?: string;
  labels?: Record<string, string>;
}

export function podObject(name: string, opts: PodOptions): KubeObject {
  const labels = { ...(opts.labels ?? {}), ...(opts.binding !== undefined ? { [BINDING_LABEL]: opts.binding } : {}) };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: opts.namespace ?? "default", labels },
    spec: { nodeName: opts.node, containers: [{ name: "app", image: "mcr.microsoft.com/azure-cli:latest" }] },
    status: {
      phase: "Running",
      podIP: opts.ip,
      podIPs: [{ ip: opts.ip }],
      conditions: [{ type: "Ready", status: "True" }],
    },
  };
}
