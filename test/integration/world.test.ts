// The emulated world (emulators/world.ts) as MIC, NMI and kubectl users see it: nodes with Azure
// providerIDs through @kubernetes/client-node over https, the chart's CRDs served, MIC's cloud config
// reaching ARM through AAD in a separate process (as the binary would), and a node's IMDS issuing
// tokens only for identities on its scale set.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { decodeClaims } from "../../emulators/common/jwt.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { type ArmTarget, createArmIdentityClient } from "../../src/cloud/arm-identity-client.ts";
import { loadCloudConfig } from "../../src/cloud/cloud-config.ts";
import { createArmCredential } from "../../src/cloud/credentials.ts";
import { getImdsToken, ImdsError } from "../../src/cloud/imds-client.ts";

const root = resolve(import.meta.dir, "../..");
const SCALE_SET = "aks-nodepool1-12345678-vmss";
let world: World;

beforeAll(async () => {
  world = await startWorld({
    tls: true,
    scaleSets: [{ name: SCALE_SET, nodes: 2 }],
    vms: ["aks-agentpool-87654321-0"],
    identities: ["app-id", "other-id"],
  });
});
afterAll(async () => {
  await world?.stop();
});

describe("emulated world", () => {
  test("client-node lists AKS-named nodes whose providerIDs name their scale set instance or VM", async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(world.kubeconfigPath);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const list = await core.listNode();
    const byName = Object.fromEntries(list.items.map((n) => [n.metadata?.name, n.spec?.providerID]));
    const sub = world.subscriptionId;
    const rg = world.resourceGroup;
    expect(byName).toEqual({
      [`${SCALE_SET}000000`]: `azure:///subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${SCALE_SET}/virtualMachines/0`,
      [`${SCALE_SET}000001`]: `azure:///subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${SCALE_SET}/virtualMachines/1`,
      "aks-agentpool-87654321-0": `azure:///subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/aks-agentpool-87654321-0`,
    });
    const namespaces = (await core.listNamespace()).items.map((ns) => ns.metadata?.name);
    expect(namespaces).toContain("default");
    expect(namespaces).toContain("kube-system");
  });

  test("the chart's four CRDs are served and the one-line helpers create valid objects", async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(world.kubeconfigPath);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    world.createAzureIdentity("app-id");
    world.createAzureIdentityBinding("app-binding", { azureIdentity: "app-id", selector: "app" });
    world.createPod("labelled", { node: `${SCALE_SET}000000`, ip: "127.0.0.11", binding: "app" });

    const identities = (await custom.listNamespacedCustomObject({
      group: "aadpodidentity.k8s.io",
      version: "v1",
      namespace: "default",
      plural: "azureidentities",
    })) as { items: Array<{ spec: { type: number; resourceID: string; clientID: string } }> };
    expect(identities.items.map((i) => i.spec)).toEqual([
      { type: 0, resourceID: world.identity("app-id").resourceId, clientID: world.identity("app-id").clientId },
    ]);
    for (const plural of ["azureidentitybindings", "azureassignedidentities", "azurepodidentityexceptions"]) {
      const listed = (await custom.listClusterCustomObject({
        group: "aadpodidentity.k8s.io",
        version: "v1",
        plural,
      })) as {
        items: unknown[];
      };
      expect(Array.isArray(listed.items)).toBe(true);
    }
    const pod = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedPod({ name: "labelled", namespace: "default" });
    expect(pod.status?.podIP).toBe("127.0.0.11");
    expect(pod.status?.phase).toBe("Running");
    expect(pod.spec?.nodeName).toBe(`${SCALE_SET}000000`);
    expect(pod.metadata?.labels?.aadpodidbinding).toBe("app");
    expect(world.assignedIdentities()).toEqual([]);
    // A CR that breaks the chart's schema is refused, as a real API server would.
    expect(() =>
      world.kube.create({
        apiVersion: "aadpodidentity.k8s.io/v1",
        kind: "AzureIdentityBinding",
        metadata: { name: "bad", namespace: "default" },
        spec: { azureIdentity: 42 },
      }),
    ).toThrow();
  });

  test("MIC's azure.json and process environment reach the emulated ARM through the emulated AAD", async () => {
    // A separate process, as the binary runs: NODE_EXTRA_CA_CERTS only takes effect at process start.
    const script = join(world.dir, "probe-arm.ts");
    writeFileSync(
      script,
      `import { loadCloudConfig } from ${JSON.stringify(`${root}/src/cloud/cloud-config.ts`)};
import { createArmCredential } from ${JSON.stringify(`${root}/src/cloud/credentials.ts`)};
import { createArmIdentityClient } from ${JSON.stringify(`${root}/src/cloud/arm-identity-client.ts`)};
const config = await loadCloudConfig({ path: process.argv[2] });
const credential = createArmCredential(config.authentication, { authorityHost: config.endpoints.activeDirectoryEndpoint });
const client = createArmIdentityClient({ credential, endpoint: config.endpoints.resourceManagerEndpoint, audience: config.endpoints.tokenAudience });
const state = await client.getIdentity({ kind: "vmss", subscriptionId: config.subscriptionId, resourceGroup: config.resourceGroup, name: process.argv[3] });
console.log(JSON.stringify(state));
`,
    );
    // Async spawn: the emulators answering it live in this process's event loop.
    const child = Bun.spawn([process.execPath, script, world.azureJsonPath, SCALE_SET], {
      cwd: root,
      env: { ...process.env, ...world.processEnv },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    await child.exited;
    expect(stderr).toBe("");
    expect(JSON.parse(stdout)).toEqual({
      type: "None",
      userAssignedIdentities: {},
      provisioningState: "Succeeded",
    });
    // The service principal authenticated at AAD, and ARM saw a token AAD signed (it rejects others).
    expect(world.aad.requests().some((r) => r.clientId === world.servicePrincipal.clientId && r.status === 200)).toBe(
      true,
    );
    expect(world.arm.calls().some((c) => c.method === "GET" && c.status === 200 && c.path.endsWith(SCALE_SET))).toBe(
      true,
    );
  });

  test("a node's IMDS issues a token for an identity assigned to its scale set, and only that one", async () => {
    const nodeName = `${SCALE_SET}000001`;
    const node = world.node(nodeName);
    const config = await loadCloudConfig({
      path: world.azureJsonPath,
      env: { AZURE_ENVIRONMENT_FILEPATH: world.environmentFilePath },
    });
    const credential = createArmCredential(config.authentication, {
      authorityHost: config.endpoints.activeDirectoryEndpoint,
      caPem: world.aad.caPem,
    });
    const client = createArmIdentityClient({
      credential,
      endpoint: config.endpoints.resourceManagerEndpoint,
      audience: config.endpoints.tokenAudience,
      caPem: await Bun.file(world.caBundlePath).text(),
      pollIntervalMs: 10,
    });
    const target: ArmTarget = {
      kind: "vmss",
      subscriptionId: world.subscriptionId,
      resourceGroup: world.resourceGroup,
      name: node.computeName,
    };
    const app = world.identity("app-id");
    await client.updateIdentities(target, { add: [app.resourceId], remove: [] });
    expect(world.armIdentitiesOf(nodeName)).toEqual([app.resourceId]);
    // Both instances share the scale set's identities.
    expect(world.armIdentitiesOf(`${SCALE_SET}000000`)).toEqual([app.resourceId]);

    const imds = await world.startImdsFor(nodeName);
    const token = await getImdsToken(
      { resource: "https://vault.azure.net", clientId: app.clientId },
      { baseUrl: imds.url },
    );
    const claims = decodeClaims(token.access_token);
    expect(claims.appid).toBe(app.clientId);
    expect(claims.oid).toBe(app.principalId);
    expect(claims.tid).toBe(world.tenantId);
    expect(claims.aud).toBe("https://vault.azure.net");
    await world.issuer.verify(token.access_token);

    const other = world.identity("other-id");
    const refused = await getImdsToken(
      { resource: "https://vault.azure.net", clientId: other.clientId },
      { baseUrl: imds.url },
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ImdsError);

    // The VM node's IMDS sees none of the scale set's identities.
    const vmImds = await world.startImdsFor("aks-agentpool-87654321-0");
    const vmRefused = await getImdsToken(
      { resource: "https://vault.azure.net", clientId: app.clientId },
      { baseUrl: vmImds.url },
    ).catch((e: unknown) => e);
    expect(vmRefused).toBeInstanceOf(ImdsError);

    // /metadata/instance describes this node's own scale-set instance.
    const instance = await fetch(`${imds.url}/metadata/instance/compute?api-version=2021-02-01`, {
      headers: { Metadata: "true" },
    });
    const compute = (await instance.json()) as { name: string; resourceId: string; vmScaleSetName: string };
    expect(compute.vmScaleSetName).toBe(node.computeName);
    expect(compute.name).toBe(`${node.computeName}_${node.instanceId}`);
    expect(compute.resourceId.endsWith(`/virtualMachines/${node.instanceId}`)).toBe(true);
  });

  test("waitFor resolves with the first truthy value of its check and rejects on timeout", async () => {
    setTimeout(() => world.createPod("late", { node: `${SCALE_SET}000000`, ip: "127.0.0.13" }), 30);
    const pod = await world.waitFor(() => world.kube.get("v1", "Pod", "default", "late"), 2000);
    expect(pod.status.podIP).toBe("127.0.0.13");
    await expect(world.waitFor(() => false, 50, "never")).rejects.toThrow("waitFor never");
  });

  test("unknown names are refused with the names that exist", () => {
    expect(() => world.identity("nope")).toThrow("app-id");
    expect(() => world.node("nope")).toThrow(`${SCALE_SET}000000`);
    expect(() => world.createPod("x", { node: "nope", ip: "127.0.0.14" })).toThrow("no node nope");
  });
});

describe("world lifecycle", () => {
  test("stop() stops every server and removes the temp files", async () => {
    const small = await startWorld({ vms: ["aks-agentpool-11111111-0"], identities: ["id"] });
    expect(small.nodes.map((n) => n.name)).toEqual(["aks-agentpool-11111111-0"]);
    const imds = await small.startImdsFor("aks-agentpool-11111111-0");
    const urls = [small.kube.url, small.arm.url, imds.url];
    expect(existsSync(small.kubeconfigPath)).toBe(true);
    await small.stop();
    expect(existsSync(small.dir)).toBe(false);
    for (const url of urls) {
      const reached = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
        () => true,
        () => false,
      );
      expect(reached).toBe(false);
    }
  });
});
