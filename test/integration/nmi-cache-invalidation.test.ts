// NMI's token cache through the compiled binary: a token is served from the cache (IMDS hears nothing),
// and once an object behind it changes the next token does not come from the old entry. The cache key is
// (client id, resource), so the cases that need the invalidation by informer events
// (src/roles/nmi/wiring/cache-invalidation.ts) are those where the client id stays the same: a binding,
// an AzureIdentity or an AzureAssignedIdentity replaced by an equal one must cost a fresh IMDS request,
// not a hit on the entry made for the old object. An edited AzureIdentity (another client id) is checked
// too. Standard mode runs with MIC (compiled) writing the records; managed mode with no MIC, the
// identities put on the scale set directly in ARM. Pods are loopback source addresses.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeClaims } from "../../emulators/common/jwt.ts";
import type { ImdsEmulator } from "../../emulators/imds/index.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { API_VERSION } from "../../src/kube/crds.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { type MicProcess, startMic } from "../support/mic-process.ts";
import {
  getFrom,
  type HttpAnswer,
  type NmiProcess,
  SHORT_ASSIGNMENT_WAIT,
  startNmi,
  tokenPath,
} from "./nmi-harness.ts";

const RESOURCE = "https://vault.azure.net";

interface Setup {
  world: World;
  imds: ImdsEmulator;
  nmi: NmiProcess;
}

/** IMDS token requests for one client id so far. */
const imdsTokenRequests = (s: Setup, clientId: string) =>
  s.imds.requests().filter((r) => r.path.includes("/oauth2/token") && r.query.client_id === clientId).length;

const appidOf = (answer: HttpAnswer) => decodeClaims(String(answer.json().access_token)).appid;

/** Asks from `ip` until `done` holds for the answer (NMI's informers see a change a moment after the API server). */
async function askUntil(
  s: Setup,
  ip: string,
  done: (answer: HttpAnswer) => boolean,
  what: string,
): Promise<HttpAnswer> {
  let last: HttpAnswer | undefined;
  await s.world.waitFor(
    async () => {
      last = await getFrom(ip, s.nmi.port, tokenPath(RESOURCE));
      return done(last);
    },
    10_000,
    what,
  );
  return last!;
}

/** Two requests; the second is a cache hit (IMDS hears nothing). Returns IMDS's count for the identity. */
async function cached(s: Setup, ip: string, clientId: string): Promise<number> {
  const first = await getFrom(ip, s.nmi.port, tokenPath(RESOURCE));
  expect(first.status).toBe(200);
  expect(appidOf(first)).toBe(clientId);
  const before = imdsTokenRequests(s, clientId);
  const again = await getFrom(ip, s.nmi.port, tokenPath(RESOURCE));
  expect(again.status).toBe(200);
  expect(appidOf(again)).toBe(clientId);
  expect(imdsTokenRequests(s, clientId)).toBe(before);
  return before;
}

function editIdentity(world: World, namespace: string, name: string, to: string): void {
  const target = world.identity(to);
  world.kube.patch(API_VERSION, "AzureIdentity", namespace, name, {
    spec: { clientID: target.clientId, resourceID: target.resourceId },
  });
}

describe("standard mode (MIC writes the records), compiled NMI", () => {
  const IP = "127.0.0.51";
  let s: Setup;
  let mic: MicProcess;

  const record = () =>
    s.world.assignedIdentities("default").find((r) => (r.spec as { pod?: string }).pod === "app-pod") as
      | { spec: { azureIdentityRef?: { spec?: { clientID?: string } } }; status?: { status?: string } }
      | undefined;

  beforeAll(async () => {
    const binary = compiledBinary();
    const world = await startWorld({ identities: ["first", "second"] });
    const node = world.nodes[0]!.name;
    const imds = await world.startImdsFor(node);
    mic = await startMic(world, binary, { instance: "mic-cache-test" });
    world.createAzureIdentity("first", { name: "app" });
    world.createAzureIdentityBinding("app-binding", { azureIdentity: "app", selector: "app" });
    world.createPod("app-pod", { node, ip: IP, binding: "app" });
    const nmi = await startNmi(world, binary, {
      node,
      imdsUrl: imds.url,
      extraArgs: [...SHORT_ASSIGNMENT_WAIT],
    });
    s = { world, imds, nmi };
    await nmi.waitForLog("informer caches synced");
  }, 30_000);

  afterAll(async () => {
    await s?.nmi.stop();
    await mic?.stop();
    await s?.world.stop();
  });

  test("the AzureIdentity edited to another identity: MIC rewrites the record and the pod gets the new identity's token from IMDS", async () => {
    const first = s.world.identity("first").clientId;
    const second = s.world.identity("second").clientId;
    await cached(s, IP, first);
    editIdentity(s.world, "default", "app", "second");
    const answer = await askUntil(
      s,
      IP,
      (a) => a.status === 200 && appidOf(a) === second,
      "a token of the edited identity",
    );
    expect(record()?.spec.azureIdentityRef?.spec?.clientID).toBe(second);
    expect(record()?.status?.status).toBe("Assigned");
    expect(appidOf(answer)).toBe(second);
    expect(imdsTokenRequests(s, second)).toBeGreaterThan(0);
    // From then on the old identity is never answered again.
    const after = await getFrom(IP, s.nmi.port, tokenPath(RESOURCE));
    expect(appidOf(after)).toBe(second);
  }, 20_000);

  test("the binding deleted and created again (same identity): refused meanwhile, then a fresh IMDS request, not the entry cached for the old record", async () => {
    const second = s.world.identity("second").clientId;
    const before = await cached(s, IP, second);
    s.world.kube.remove(API_VERSION, "AzureIdentityBinding", "default", "app-binding");
    // MIC marks the record Unassigned at once: NMI refuses the pod (404), without asking IMDS.
    await askUntil(s, IP, (a) => a.status === 404, "the pod to be refused once its record is Unassigned");
    expect(imdsTokenRequests(s, second)).toBe(before);

    s.world.createAzureIdentityBinding("app-binding", { azureIdentity: "app", selector: "app" });
    const answer = await askUntil(s, IP, (a) => a.status === 200, "a token once the new record is Assigned");
    expect(appidOf(answer)).toBe(second);
    // Same client id and resource as the cached token, yet IMDS was asked: the old record's entry was dropped.
    expect(imdsTokenRequests(s, second)).toBe(before + 1);
    expect(record()?.status?.status).toBe("Assigned");
  }, 20_000);
});

describe("managed mode (no MIC), compiled NMI", () => {
  const IP = "127.0.0.61";
  const TEAM = "team-m";
  let s: Setup;

  beforeAll(async () => {
    const binary = compiledBinary();
    const world = await startWorld({ identities: ["first", "second"] });
    const worldNode = world.nodes[0]!;
    world.arm.addVmss(worldNode.computeResourceId, {
      userAssigned: [world.identity("first").resourceId, world.identity("second").resourceId],
    });
    const imds = await world.startImdsFor(worldNode.name);
    world.kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: TEAM } });
    world.createAzureIdentity("first", { name: "app", namespace: TEAM });
    world.createAzureIdentityBinding("app-binding", { azureIdentity: "app", selector: "app", namespace: TEAM });
    world.createPod("app-pod", { node: worldNode.name, ip: IP, namespace: TEAM, binding: "app" });
    const nmi = await startNmi(world, binary, { node: worldNode.name, imdsUrl: imds.url, role: "managed" });
    s = { world, imds, nmi };
    await nmi.waitForLog("informer caches synced");
  }, 30_000);

  afterAll(async () => {
    await s?.nmi.stop();
    await s?.world.stop();
  });

  /** IMDS's count for the identity when the binding was deleted and after the recreated binding's first token. */
  const aroundRecreate = { before: -1, after: -1 };

  test("the binding deleted: 404 at once and IMDS not asked; created again: the pod's token again", async () => {
    const first = s.world.identity("first").clientId;
    const before = await cached(s, IP, first);
    s.world.kube.remove(API_VERSION, "AzureIdentityBinding", TEAM, "app-binding");
    await askUntil(s, IP, (a) => a.status === 404, "the pod to be refused without its binding");
    expect(imdsTokenRequests(s, first)).toBe(before);
    s.world.createAzureIdentityBinding("app-binding", { azureIdentity: "app", selector: "app", namespace: TEAM });
    const answer = await askUntil(s, IP, (a) => a.status === 200, "a token once the binding is back");
    expect(appidOf(answer)).toBe(first);
    aroundRecreate.before = before;
    aroundRecreate.after = imdsTokenRequests(s, first);
  }, 20_000);

  // Managed tokens carry the tags of the bindings matched at request time, so deleting the binding
  // drops the entry and the recreated binding's first token comes from IMDS.
  test("...and that token was fetched from IMDS afresh, not the entry cached under the deleted binding", () => {
    expect(aroundRecreate.before).toBeGreaterThanOrEqual(0);
    expect(aroundRecreate.after).toBe(aroundRecreate.before + 1);
  });

  test("the AzureIdentity replaced by an equal one (deleted, created again): a fresh IMDS request", async () => {
    const first = s.world.identity("first").clientId;
    const before = await cached(s, IP, first);
    s.world.kube.remove(API_VERSION, "AzureIdentity", TEAM, "app");
    await askUntil(s, IP, (a) => a.status === 404, "the pod to be refused without its identity");
    s.world.createAzureIdentity("first", { name: "app", namespace: TEAM });
    const answer = await askUntil(s, IP, (a) => a.status === 200, "a token once the identity is back");
    expect(appidOf(answer)).toBe(first);
    expect(imdsTokenRequests(s, first)).toBe(before + 1);
  }, 20_000);

  test("the AzureIdentity edited to another identity: the next token is the new identity's, from IMDS", async () => {
    const first = s.world.identity("first").clientId;
    const second = s.world.identity("second").clientId;
    await cached(s, IP, first);
    editIdentity(s.world, TEAM, "app", "second");
    const answer = await askUntil(
      s,
      IP,
      (a) => a.status === 200 && appidOf(a) === second,
      "a token of the edited identity",
    );
    expect(answer.status).toBe(200);
    expect(imdsTokenRequests(s, second)).toBe(1);
    expect(appidOf(await getFrom(IP, s.nmi.port, tokenPath(RESOURCE)))).toBe(second);
  }, 20_000);
});
