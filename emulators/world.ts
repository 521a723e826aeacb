// The emulated world in one call: a Kubernetes API server with the chart's CRDs and AKS-shaped nodes,
// ARM with the scale sets / VMs behind those nodes and a catalogue of user-assigned identities, AAD
// with a service principal for MIC, and IMDS per node on demand, all signing with one token issuer.
// Plus the files a MIC process needs (kubeconfig, azure.json, environment file, CA bundle) and
// one-line helpers to seed AzureIdentities, bindings and pods. Used by tests, the demo and
// `npm run emulators`.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_VERSION } from "../src/kube/crds.ts";
import { type AadEmulator, startAadEmulator } from "./aad/index.ts";
import { type ArmEmulator, startArmEmulator } from "./arm/index.ts";
import { deterministicGuid } from "./arm/resource-id.ts";
import { createTokenIssuer, type TokenIssuer } from "./common/jwt.ts";
import { createCertificateAuthority } from "./common/pki.ts";
import { type ImdsEmulator, startImdsEmulator } from "./imds/index.ts";
import { type KubeEmulator, type KubeObject, startKubeEmulator } from "./kube/index.ts";
import { loadChartCrds } from "./world/chart-crds.ts";
import { azureEnvironmentJson, azureJson, type ServicePrincipal } from "./world/cloud-files.ts";
import { layoutNodes, userAssignedIdentityId, type WorldNode } from "./world/naming.ts";
import {
  azureIdentityBindingObject,
  azureIdentityObject,
  type IdentityRef,
  nodeObject,
  type PodOptions,
  podObject,
} from "./world/objects.ts";

export type { WorldNode } from "./world/naming.ts";
export type { IdentityRef, PodOptions } from "./world/objects.ts";

export interface WorldOptions {
  /** Kubernetes API server and ARM over https with generated CAs (default false: http). AAD is always https. */
  tls?: boolean;
  /** Default: one scale set `aks-nodepool1-12345678-vmss` with 2 nodes (unless `vms` is given). */
  scaleSets?: Array<{ name: string; nodes: number }>;
  /** Availability-set VMs, one node each (node name = VM name). */
  vms?: string[];
  /** Names of user-assigned identities registered in ARM's catalogue (not assigned anywhere yet). */
  identities?: string[];
  subscriptionId?: string;
  /** The node resource group, where VMs, scale sets and identities live. */
  resourceGroup?: string;
  /** IMDS answers "Identity not found" for this long after ARM completed an assignment (default 0). */
  imdsPropagationDelayMs?: number;
  /** How long ARM's identity PATCH operations take to complete (default 0). */
  armLatencyMs?: number;
}

export interface World {
  kube: KubeEmulator;
  arm: ArmEmulator;
  aad: AadEmulator;
  /** Signs AAD and IMDS tokens; ARM accepts only tokens it signed. */
  issuer: TokenIssuer;
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  nodes: WorldNode[];
  node(name: string): WorldNode;
  /** MIC's service principal, registered in AAD and written to azure.json. */
  servicePrincipal: ServicePrincipal;
  /** Temp directory holding the files below; removed by stop(). */
  dir: string;
  /** Admin kubeconfig for the API server. */
  kubeconfigPath: string;
  /** azure.json for MIC (--cloudconfig): AzureStackCloud with the service principal. */
  azureJsonPath: string;
  /** go-autorest environment file pointing AzureStackCloud at the ARM and AAD emulators. */
  environmentFilePath: string;
  /** PEM bundle of the emulators' CAs (AAD, and ARM with tls). */
  caBundlePath: string;
  /**
   * Environment a pod-identity process needs to use this world: AZURE_ENVIRONMENT_FILEPATH,
   * NODE_EXTRA_CA_CERTS (Bun reads it only at start, so it must be set when spawning) and KUBECONFIG.
   */
  processEnv: Record<string, string>;
  /** A user-assigned identity of the catalogue by name; throws for an unknown name. */
  identity(name: string): IdentityRef;
  /** Registers another user-assigned identity in ARM's catalogue. */
  addIdentity(name: string): IdentityRef;
  /** Starts an IMDS emulator for the node's VM / scale set (stopped by stop()). */
  startImdsFor(nodeName: string, opts?: { host?: string; port?: number }): Promise<ImdsEmulator>;
  /** Creates an AzureIdentity (type 0) for a catalogue identity, named as the identity unless `name` is given. */
  createAzureIdentity(
    identityName: string,
    opts?: { name?: string; namespace?: string; annotations?: Record<string, string> },
  ): KubeObject;
  createAzureIdentityBinding(
    name: string,
    opts: { azureIdentity: string; selector: string; namespace?: string },
  ): KubeObject;
  /** Creates a Running pod on a node with status.podIP set and, with `binding`, the aadpodidbinding label. */
  createPod(name: string, opts: PodOptions): KubeObject;
  /** AzureAssignedIdentities, in a namespace or all. */
  assignedIdentities(namespace?: string): KubeObject[];
  /** Resource IDs of the user-assigned identities on the node's VM / scale set, as ARM reports them now. */
  armIdentitiesOf(nodeName: string): string[];
  /** Polls `check` every `intervalMs` (default 10) until it returns a truthy value; rejects after timeoutMs (default 10000). */
  waitFor<T>(
    check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
    timeoutMs?: number,
    what?: string,
  ): Promise<T>;
  stop(): Promise<void>;
}

const DEFAULT_SUBSCRIPTION = "8f2d5c6e-1b3a-4c7d-9e0f-2a4b6c8d0e1f";
const DEFAULT_RESOURCE_GROUP = "MC_pod-identity-demo_demo-aks_westus2";
const DEFAULT_SCALE_SET = { name: "aks-nodepool1-12345678-vmss", nodes: 2 };
const LOCATION = "westus2";
/** What the world uses when options leave them out (the CLI's single-emulator mode lays out the same). */
export const WORLD_DEFAULTS = {
  subscriptionId: DEFAULT_SUBSCRIPTION,
  resourceGroup: DEFAULT_RESOURCE_GROUP,
  scaleSet: DEFAULT_SCALE_SET,
  location: LOCATION,
} as const;

export async function startWorld(opts: WorldOptions = {}): Promise<World> {
  const subscriptionId = opts.subscriptionId ?? DEFAULT_SUBSCRIPTION;
  const resourceGroup = opts.resourceGroup ?? DEFAULT_RESOURCE_GROUP;
  const scope = { subscriptionId, resourceGroup };
  const scaleSets = opts.scaleSets ?? (opts.vms?.length ? [] : [DEFAULT_SCALE_SET]);
  const nodes = layoutNodes(scope, scaleSets, opts.vms ?? []);
  const tenantId = deterministicGuid("world-tenant", subscriptionId);
  const dir = mkdtempSync(join(tmpdir(), "pod-identity-world-"));

  const stoppers: Array<() => Promise<void>> = [];
  const imdsServers: ImdsEmulator[] = [];
  const stopAll = async () => {
    await Promise.allSettled(imdsServers.map((imds) => imds.stop()));
    await Promise.allSettled(stoppers.map((stop) => stop()));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const issuer = await createTokenIssuer();
    const aad = await startAadEmulator({ issuer });
    stoppers.push(() => aad.stop());
    const armCa = opts.tls ? createCertificateAuthority("pod-identity ARM emulator CA") : undefined;
    const arm = await startArmEmulator({
      tenantId,
      verifyTokensWith: issuer,
      ...(armCa ? { tls: armCa.issueServer({ dns: ["localhost"], ips: ["127.0.0.1"] }) } : {}),
    });
    stoppers.push(() => arm.stop());
    if (opts.armLatencyMs) arm.setLatency("lro", opts.armLatencyMs);
    const kube = await startKubeEmulator({ tls: opts.tls === true });
    stoppers.push(() => kube.stop());

    for (const crd of loadChartCrds()) kube.create(crd);
    for (const node of nodes) kube.create(nodeObject(node, LOCATION));
    for (const scaleSet of scaleSets) {
      const id = nodes.find((n) => n.kind === "vmss" && n.computeName === scaleSet.name)?.computeResourceId;
      if (id) arm.addVmss(id);
    }
    for (const node of nodes.filter((n) => n.kind === "vm")) arm.addVm(node.computeResourceId);

    const identities = new Map<string, IdentityRef>();
    const addIdentity = (name: string): IdentityRef => {
      const resourceId = userAssignedIdentityId(scope, name);
      const ref = { resourceId, ...arm.addUserAssignedIdentity(resourceId) };
      identities.set(name, ref);
      return ref;
    };
    for (const name of opts.identities ?? []) addIdentity(name);

    const servicePrincipal: ServicePrincipal = {
      tenantId,
      clientId: deterministicGuid("world-mic-sp", tenantId),
      clientSecret: `emulated-${crypto.randomUUID()}`,
    };
    aad.addApp(tenantId, servicePrincipal.clientId, { secret: servicePrincipal.clientSecret });

    const kubeconfigPath = join(dir, "kubeconfig");
    kube.writeKubeconfig(kubeconfigPath);
    const environmentFilePath = join(dir, "azurestackcloud.json");
    writeFileSync(environmentFilePath, azureEnvironmentJson({ armUrl: arm.url, aadUrl: aad.authorityHost }));
    const azureJsonPath = join(dir, "azure.json");
    const vmType = nodes.some((n) => n.kind === "vmss") ? "vmss" : "standard";
    writeFileSync(azureJsonPath, azureJson({ sp: servicePrincipal, subscriptionId, resourceGroup, vmType }), {
      mode: 0o600,
    });
    const caBundlePath = join(dir, "ca-bundle.pem");
    writeFileSync(caBundlePath, [aad.caPem, armCa?.certPem ?? ""].filter((pem) => pem !== "").join("\n"));

    const nodeByName = (name: string): WorldNode => {
      const found = nodes.find((n) => n.name === name);
      if (!found) throw new Error(`no node ${name} in the world (nodes: ${nodes.map((n) => n.name).join(", ")})`);
      return found;
    };
    const identity = (name: string): IdentityRef => {
      const found = identities.get(name);
      if (!found)
        throw new Error(`no identity ${name} in the world (identities: ${[...identities.keys()].join(", ")})`);
      return found;
    };

    return {
      kube,
      arm,
      aad,
      issuer,
      tenantId,
      subscriptionId,
      resourceGroup,
      nodes,
      node: nodeByName,
      servicePrincipal,
      dir,
      kubeconfigPath,
      azureJsonPath,
      environmentFilePath,
      caBundlePath,
      processEnv: {
        AZURE_ENVIRONMENT_FILEPATH: environmentFilePath,
        NODE_EXTRA_CA_CERTS: caBundlePath,
        KUBECONFIG: kubeconfigPath,
      },
      identity,
      addIdentity,
      async startImdsFor(nodeName, imdsOpts = {}) {
        const imds = await startImdsEmulator({
          arm,
          vmResourceId: nodeByName(nodeName).computeResourceId,
          instanceId: nodeByName(nodeName).instanceId,
          issuer,
          propagationDelayMs: opts.imdsPropagationDelayMs ?? 0,
          ...imdsOpts,
        });
        imdsServers.push(imds);
        return imds;
      },
      createAzureIdentity(identityName, o = {}) {
        return kube.create(
          azureIdentityObject(o.name ?? identityName, o.namespace ?? "default", identity(identityName), o.annotations),
        );
      },
      createAzureIdentityBinding(name, o) {
        return kube.create(azureIdentityBindingObject(name, o.namespace ?? "default", o.azureIdentity, o.selector));
      },
      createPod(name, o) {
        nodeByName(o.node);
        return kube.create(podObject(name, o));
      },
      assignedIdentities: (namespace) => kube.list(API_VERSION, "AzureAssignedIdentity", namespace),
      armIdentitiesOf(nodeName) {
        const found = arm.identityOf(nodeByName(nodeName).computeResourceId);
        return Object.keys(found?.userAssignedIdentities ?? {});
      },
      async waitFor(check, timeoutMs = 10_000, what = "condition") {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const result = await check();
          if (result) return result;
          if (Date.now() >= deadline) throw new Error(`waitFor ${what}: not met within ${timeoutMs} ms`);
          await Bun.sleep(10);
        }
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
