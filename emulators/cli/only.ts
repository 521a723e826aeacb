// `bun emulators/cli.ts --only NAME`: some of the world's emulators without the rest, laid out as the
// world lays them out (same subscription, resource group, node names, identity IDs, tenant), for
// poking one service with curl, kubectl or an SDK. IMDS reads identities from ARM, so `imds` brings
// ARM along. ARM checks token signatures only when AAD runs too (then it accepts AAD's tokens only);
// alone it accepts any bearer token, as the world's ARM would accept any token AAD issued.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AadEmulator, startAadEmulator } from "../aad/index.ts";
import { type ArmEmulator, startArmEmulator } from "../arm/index.ts";
import { deterministicGuid } from "../arm/resource-id.ts";
import { createTokenIssuer } from "../common/jwt.ts";
import { createCertificateAuthority } from "../common/pki.ts";
import { type ImdsEmulator, startImdsEmulator } from "../imds/index.ts";
import { type KubeEmulator, startKubeEmulator } from "../kube/index.ts";
import { loadChartCrds } from "../world/chart-crds.ts";
import { layoutNodes, userAssignedIdentityId } from "../world/naming.ts";
import { nodeObject } from "../world/objects.ts";
import { WORLD_DEFAULTS } from "../world.ts";

export const EMULATOR_NAMES = ["kube", "arm", "aad", "imds"] as const;
export type EmulatorName = (typeof EMULATOR_NAMES)[number];

export interface OnlyOptions {
  tls: boolean;
  scaleSets: Array<{ name: string; nodes: number }>;
  vms: string[];
  identities: string[];
  imdsPropagationDelayMs: number;
  armLatencyMs: number;
}

export interface RunningEmulators {
  /** What to print: endpoints, identities, files. */
  lines: string[];
  /** The Kubernetes API server's admin kubeconfig, when it runs. */
  kubeconfig?: { path: string; yaml: string };
  /** Stops every server and removes the files. */
  stop(): Promise<void>;
}

export async function startOnly(names: ReadonlySet<EmulatorName>, opts: OnlyOptions): Promise<RunningEmulators> {
  const scope = { subscriptionId: WORLD_DEFAULTS.subscriptionId, resourceGroup: WORLD_DEFAULTS.resourceGroup };
  const nodes = layoutNodes(scope, opts.scaleSets, opts.vms);
  const tenantId = deterministicGuid("world-tenant", scope.subscriptionId);
  const dir = mkdtempSync(join(tmpdir(), "pod-identity-emulators-"));
  const stoppers: Array<() => Promise<void>> = [];
  const stop = async () => {
    await Promise.allSettled([...stoppers].reverse().map((s) => s()));
    rmSync(dir, { recursive: true, force: true });
  };
  const lines: string[] = [];
  let kubeconfig: RunningEmulators["kubeconfig"];

  try {
    const issuer = await createTokenIssuer();
    let aad: AadEmulator | undefined;
    if (names.has("aad")) {
      aad = await startAadEmulator({ issuer });
      stoppers.push(() => aad!.stop());
      const clientId = deterministicGuid("world-mic-sp", tenantId);
      const clientSecret = `emulated-${crypto.randomUUID()}`;
      aad.addApp(tenantId, clientId, { secret: clientSecret });
      const caPath = join(dir, "aad-ca.pem");
      writeFileSync(caPath, aad.caPem);
      lines.push(
        `  AAD             ${aad.authorityHost}/${tenantId}`,
        `    service principal clientId ${clientId}  secret ${clientSecret}`,
        `    CA              ${caPath}   (NODE_EXTRA_CA_CERTS for clients)`,
      );
    }

    let arm: ArmEmulator | undefined;
    if (names.has("arm") || names.has("imds")) {
      const ca = opts.tls ? createCertificateAuthority("pod-identity ARM emulator CA") : undefined;
      arm = await startArmEmulator({
        tenantId,
        ...(aad ? { verifyTokensWith: issuer } : {}),
        ...(ca ? { tls: ca.issueServer({ dns: ["localhost"], ips: ["127.0.0.1"] }) } : {}),
      });
      stoppers.push(() => arm!.stop());
      if (opts.armLatencyMs) arm.setLatency("lro", opts.armLatencyMs);
      for (const scaleSet of opts.scaleSets) {
        const id = nodes.find((n) => n.kind === "vmss" && n.computeName === scaleSet.name)?.computeResourceId;
        if (id) arm.addVmss(id);
      }
      for (const node of nodes.filter((n) => n.kind === "vm")) arm.addVm(node.computeResourceId);
      lines.push(
        `  ARM             ${arm.url}   (subscription ${scope.subscriptionId}, resource group ${scope.resourceGroup}; ${aad ? "tokens from the AAD above" : "any bearer token"})`,
      );
      if (ca) {
        const caPath = join(dir, "arm-ca.pem");
        writeFileSync(caPath, ca.certPem);
        lines.push(`    CA              ${caPath}`);
      }
      lines.push("  user-assigned identities:");
      for (const name of opts.identities) {
        const resourceId = userAssignedIdentityId(scope, name);
        const { clientId } = arm.addUserAssignedIdentity(resourceId);
        lines.push(`    ${name.padEnd(20)} clientId ${clientId}  ${resourceId}`);
      }
    }

    if (names.has("imds") && arm) {
      lines.push("  nodes and their IMDS:");
      for (const node of nodes) {
        const imds: ImdsEmulator = await startImdsEmulator({
          arm,
          vmResourceId: node.computeResourceId,
          ...(node.instanceId !== undefined ? { instanceId: node.instanceId } : {}),
          issuer,
          propagationDelayMs: opts.imdsPropagationDelayMs,
        });
        stoppers.push(() => imds.stop());
        lines.push(`    ${node.name.padEnd(34)} ${imds.url}   ${node.providerID}`);
      }
    }

    if (names.has("kube")) {
      const kube: KubeEmulator = await startKubeEmulator({ tls: opts.tls });
      stoppers.push(() => kube.stop());
      for (const crd of loadChartCrds()) kube.create(crd);
      for (const node of nodes) kube.create(nodeObject(node, WORLD_DEFAULTS.location));
      const path = join(dir, "kubeconfig");
      kube.writeKubeconfig(path);
      kubeconfig = { path, yaml: kube.kubeconfigYaml };
      lines.unshift(
        `  kubernetes API  ${kube.url}   (nodes: ${nodes.map((n) => n.name).join(", ") || "none"}; the chart's CRDs)`,
        ...(opts.tls ? [`    bearer token    ${kube.bearerToken}   (accepted instead of the client certificate)`] : []),
      );
    }
    return { lines, ...(kubeconfig ? { kubeconfig } : {}), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
