// `pod-identity --role managed` as users run it: the compiled binary against the emulated world, with
// no MIC. The identities are put on the scale set directly in ARM (as `az vmss identity assign` does),
// and NMI matches bindings and identities of the pod's own namespace at request time. Pods are loopback
// source addresses; NMI runs unprivileged (see nmi-harness.ts), so only its token server is exercised.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeClaims } from "../../emulators/common/jwt.ts";
import type { ImdsEmulator } from "../../emulators/imds/index.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { API_VERSION } from "../../src/kube/crds.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { getFrom, type NmiProcess, startNmi, tokenPath } from "./nmi-harness.ts";

const RESOURCE = "https://vault.azure.net";
const TEAM = "team-a";
const OTHER_TEAM = "team-b";

let world: World;
let imds: ImdsEmulator;
let nmi: NmiProcess;
let spClientId = "";

const imdsTokenRequests = () => imds.requests().filter((r) => r.path.includes("/oauth2/token")).length;
const aadTokenRequests = (clientId: string) =>
  world.aad.requests().filter((r) => r.clientId === clientId && r.path.includes("/token")).length;

function namespace(name: string): void {
  world.kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
}

/** A service principal (type 1) whose secret is a Kubernetes Secret in the pod's namespace. */
function servicePrincipalIdentity(name: string, ns: string): string {
  const clientId = crypto.randomUUID();
  const secret = `sp-${crypto.randomUUID()}`;
  world.aad.addApp(world.tenantId, clientId, { secret });
  world.kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: `${name}-secret`, namespace: ns },
    data: { clientSecret: Buffer.from(secret).toString("base64") },
  });
  world.kube.create({
    apiVersion: API_VERSION,
    kind: "AzureIdentity",
    metadata: { name, namespace: ns },
    spec: {
      type: 1,
      tenantID: world.tenantId,
      clientID: clientId,
      clientPassword: { name: `${name}-secret`, namespace: ns },
      adEndpoint: `${world.aad.authorityHost}/`,
    },
  });
  return clientId;
}

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({ identities: ["app-identity", "unassigned-identity"] });
  const node = world.nodes[0]!;
  // The operator's `az vmss identity assign`: the identity is on the scale set before NMI starts.
  world.arm.addVmss(node.computeResourceId, { userAssigned: [world.identity("app-identity").resourceId] });
  imds = await world.startImdsFor(node.name);
  namespace(TEAM);
  namespace(OTHER_TEAM);

  world.createAzureIdentity("app-identity", { namespace: TEAM });
  world.createAzureIdentityBinding("app-binding", { azureIdentity: "app-identity", selector: "app", namespace: TEAM });
  world.createPod("app-pod", { node: node.name, ip: "127.0.0.21", namespace: TEAM, binding: "app" });
  // Same label in another namespace, and a binding there naming the identity that lives in team-a.
  world.createAzureIdentityBinding("stolen-binding", {
    azureIdentity: "app-identity",
    selector: "app",
    namespace: OTHER_TEAM,
  });
  world.createPod("intruder-pod", { node: node.name, ip: "127.0.0.22", namespace: OTHER_TEAM, binding: "app" });

  world.createAzureIdentity("unassigned-identity", { namespace: TEAM });
  world.createAzureIdentityBinding("lonely-binding", {
    azureIdentity: "unassigned-identity",
    selector: "lonely",
    namespace: TEAM,
  });
  world.createPod("lonely-pod", { node: node.name, ip: "127.0.0.23", namespace: TEAM, binding: "lonely" });

  spClientId = servicePrincipalIdentity("sp-identity", TEAM);
  world.createAzureIdentityBinding("sp-binding", { azureIdentity: "sp-identity", selector: "sp", namespace: TEAM });
  world.createPod("sp-pod", { node: node.name, ip: "127.0.0.24", namespace: TEAM, binding: "sp" });

  // @azure/identity connects from 127.0.0.1.
  world.createPod("sdk-pod", { node: node.name, ip: "127.0.0.1", namespace: TEAM, binding: "app" });

  nmi = await startNmi(world, binary, { node: node.name, imdsUrl: imds.url, role: "managed" });
  await nmi.waitForLog("informer caches synced");
}, 30_000);

afterAll(async () => {
  await nmi?.stop();
  await world?.stop();
});

describe("managed mode, compiled binary, no MIC", () => {
  test("a pod bound in its own namespace gets a token for that identity from IMDS", async () => {
    const answer = await getFrom("127.0.0.21", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(200);
    const claims = decodeClaims(String(answer.json().access_token));
    expect(claims.appid).toBe(world.identity("app-identity").clientId);
    expect(claims.xms_mirid).toBe(world.identity("app-identity").resourceId);
    expect(claims.aud).toBe(RESOURCE);
    expect(imdsTokenRequests()).toBeGreaterThan(0);
  }, 15_000);

  test("the identity is found by an upper-case client_id too", async () => {
    const clientId = world.identity("app-identity").clientId.toUpperCase();
    const answer = await getFrom("127.0.0.21", nmi.port, tokenPath(RESOURCE, { client_id: clientId }));
    expect(answer.status).toBe(200);
    expect(decodeClaims(String(answer.json().access_token)).appid).toBe(world.identity("app-identity").clientId);
  }, 15_000);

  test("a pod of another namespace with the same label is refused with 404, and IMDS is not asked", async () => {
    const before = imdsTokenRequests();
    const answer = await getFrom("127.0.0.22", nmi.port, tokenPath("https://management.azure.com/"));
    expect(answer.status).toBe(404);
    const body = answer.json();
    expect(body.error).toBe("not_found");
    expect(String(body.error_description)).toStartWith("no azure identity found for request clientID");
    expect(String(body.error_description)).toContain(OTHER_TEAM);
    expect(body.access_token).toBeUndefined();
    expect(imdsTokenRequests()).toBe(before);
  }, 15_000);

  test("an identity that is not on the scale set is refused with 403 saying to assign it there", async () => {
    expect(world.armIdentitiesOf(world.nodes[0]!.name)).not.toContain(world.identity("unassigned-identity").resourceId);
    const answer = await getFrom("127.0.0.23", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(403);
    const description = String(answer.json().error_description);
    expect(description).toContain("Identity not found");
    expect(description).toContain("az vmss identity assign");
    expect(description).toContain(world.identity("unassigned-identity").resourceId);
    expect(description).not.toContain(world.identity("unassigned-identity").clientId);
  }, 15_000);

  test("a service-principal identity gets its token from AAD with the secret from Kubernetes", async () => {
    const imdsBefore = imdsTokenRequests();
    const answer = await getFrom("127.0.0.24", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(200);
    const claims = decodeClaims(String(answer.json().access_token));
    expect(claims.appid).toBe(spClientId);
    expect(claims.tid).toBe(world.tenantId);
    expect(claims.oid).toBe(world.aad.servicePrincipalObjectId(world.tenantId, spClientId));
    expect(aadTokenRequests(spClientId)).toBeGreaterThan(0);
    expect(imdsTokenRequests()).toBe(imdsBefore);
  }, 15_000);

  test("@azure/identity ManagedIdentityCredential gets its pod's token through managed NMI", async () => {
    const script = `
      import { ManagedIdentityCredential } from "@azure/identity";
      const token = await new ManagedIdentityCredential().getToken("${RESOURCE}/.default");
      console.log(token.token);
    `;
    const child = Bun.spawn([process.execPath, "-e", script], {
      cwd: `${import.meta.dir}/../..`,
      env: { PATH: process.env.PATH ?? "", AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${nmi.port}` },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    expect(err).not.toContain("Error");
    expect(code).toBe(0);
    expect(decodeClaims(out.trim()).appid).toBe(world.identity("app-identity").clientId);
  }, 15_000);

  test("managed NMI watches identities and bindings, never AzureAssignedIdentity", () => {
    const paths = world.kube.requests().map((r) => r.path);
    expect(paths.some((p) => p.includes("/azureidentities") && p.includes("watch=true"))).toBe(true);
    expect(paths.some((p) => p.includes("/azureidentitybindings") && p.includes("watch=true"))).toBe(true);
    expect(paths.filter((p) => p.toLowerCase().includes("azureassignedidentit"))).toEqual([]);
    expect(world.assignedIdentities()).toEqual([]);
  });

  test("SIGTERM stops managed NMI with exit code 0", async () => {
    expect(await nmi.stop()).toBe(0);
  }, 15_000);
});
