// Standard-mode NMI flags that change how a request is answered, driven through the compiled binary
// against the emulated world with no MIC: the AzureAssignedIdentity records are written here, as a MIC
// that is not namespaced writes them (a binding in team-a matching a pod of team-b by its label), and the
// identities are put on the scale set in ARM directly. Pods are loopback source addresses.
//
// - namespaced mode: --forceNamespaced, FORCENAMESPACED=true, and the per-identity annotation
//   aadpodidentity.k8s.io/Behavior: namespaced refuse a pod whose record names an identity of another
//   namespace, at once and without asking IMDS; the same record is served by an NMI without them.
// - --set-retry-after-header: a pod with no Assigned record gets 503 + Retry-After: 20 at once instead
//   of being held for the assignment budget (100 s with the default flags used here).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeClaims } from "../../emulators/common/jwt.ts";
import type { ImdsEmulator } from "../../emulators/imds/index.ts";
import type { KubeObject } from "../../emulators/kube/index.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { API_VERSION, BEHAVIOR_ANNOTATION, BEHAVIOR_NAMESPACED, NODENAME_LABEL } from "../../src/kube/crds.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { getFrom, type HttpAnswer, type NmiProcess, startNmi, tokenPath } from "./nmi-harness.ts";

const RESOURCE = "https://vault.azure.net";
const TEAM_A = "team-a";
const TEAM_B = "team-b";

const IP = {
  appPod: "127.0.0.31",
  intruder: "127.0.0.32",
  annotatedPod: "127.0.0.33",
  annotatedIntruder: "127.0.0.34",
  unassignedPod: "127.0.0.35",
  createdPod: "127.0.0.36",
} as const;

let world: World;
let imds: ImdsEmulator;
let node = "";
/** No namespaced flag: the control, and the annotation case. */
let plain: NmiProcess;
let forcedByFlag: NmiProcess;
let forcedByEnv: NmiProcess;
let retryAfter: NmiProcess;

const imdsTokenRequests = (clientId: string) =>
  imds.requests().filter((r) => r.path.includes("/oauth2/token") && r.query.client_id === clientId).length;

/** The record MIC writes for a pod and the identity/binding it matched (name, label, embedded snapshots). */
function putRecord(
  pod: { name: string; namespace: string },
  identity: KubeObject,
  binding: KubeObject,
  status: "Created" | "Assigned",
): void {
  const name = `${pod.name}-${pod.namespace}-${identity.metadata.name}`;
  world.kube.create({
    apiVersion: API_VERSION,
    kind: "AzureAssignedIdentity",
    metadata: { name, namespace: "default", labels: { [NODENAME_LABEL]: node } },
    spec: {
      azureIdentityRef: identity,
      azureBindingRef: binding,
      pod: pod.name,
      podNamespace: pod.namespace,
      nodename: node,
    },
    status: { status },
  });
}

function setRecordStatus(name: string, status: "Created" | "Assigned"): void {
  const current = world.kube.get(API_VERSION, "AzureAssignedIdentity", "default", name);
  if (!current) throw new Error(`no record ${name}`);
  // The CRD has no status subresource: MIC writes status with a patch of the whole object, as here.
  world.kube.update({ ...current, status: { status } });
}

/** A token request and how long NMI took to answer it. */
async function timed(from: string, nmi: NmiProcess): Promise<{ answer: HttpAnswer; ms: number }> {
  const started = performance.now();
  const answer = await getFrom(from, nmi.port, tokenPath(RESOURCE));
  return { answer, ms: performance.now() - started };
}

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({ identities: ["app-identity", "annotated-identity", "late-identity"] });
  const worldNode = world.nodes[0]!;
  node = worldNode.name;
  world.arm.addVmss(worldNode.computeResourceId, {
    userAssigned: ["app-identity", "annotated-identity", "late-identity"].map((n) => world.identity(n).resourceId),
  });
  imds = await world.startImdsFor(node);
  for (const ns of [TEAM_A, TEAM_B]) world.kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });

  // team-a's identity and binding; a pod of team-a and one of team-b carry the binding's label.
  const appIdentity = world.createAzureIdentity("app-identity", { namespace: TEAM_A });
  const appBinding = world.createAzureIdentityBinding("app-binding", {
    azureIdentity: "app-identity",
    selector: "app",
    namespace: TEAM_A,
  });
  world.createPod("app-pod", { node, ip: IP.appPod, namespace: TEAM_A, binding: "app" });
  world.createPod("intruder", { node, ip: IP.intruder, namespace: TEAM_B, binding: "app" });
  putRecord({ name: "app-pod", namespace: TEAM_A }, appIdentity, appBinding, "Assigned");
  putRecord({ name: "intruder", namespace: TEAM_B }, appIdentity, appBinding, "Assigned");

  // The same shape with an identity annotated namespaced (no flag on the NMI that judges it).
  const annotated = world.createAzureIdentity("annotated-identity", {
    namespace: TEAM_A,
    annotations: { [BEHAVIOR_ANNOTATION]: BEHAVIOR_NAMESPACED },
  });
  const annotatedBinding = world.createAzureIdentityBinding("annotated-binding", {
    azureIdentity: "annotated-identity",
    selector: "annotated",
    namespace: TEAM_A,
  });
  world.createPod("annotated-pod", { node, ip: IP.annotatedPod, namespace: TEAM_A, binding: "annotated" });
  world.createPod("annotated-intruder", { node, ip: IP.annotatedIntruder, namespace: TEAM_B, binding: "annotated" });
  putRecord({ name: "annotated-pod", namespace: TEAM_A }, annotated, annotatedBinding, "Assigned");
  putRecord({ name: "annotated-intruder", namespace: TEAM_B }, annotated, annotatedBinding, "Assigned");

  // --set-retry-after-header: a bound pod MIC has not written a record for, and one whose record is Created.
  const late = world.createAzureIdentity("late-identity");
  const lateBinding = world.createAzureIdentityBinding("late-binding", {
    azureIdentity: "late-identity",
    selector: "late",
  });
  world.createPod("unassigned-pod", { node, ip: IP.unassignedPod, binding: "late" });
  world.createPod("created-pod", { node, ip: IP.createdPod, binding: "late" });
  putRecord({ name: "created-pod", namespace: "default" }, late, lateBinding, "Created");

  const start = (extraArgs: string[] = [], env: Record<string, string> = {}) =>
    startNmi(world, binary, { node, imdsUrl: imds.url, extraArgs, env });
  [plain, forcedByFlag, forcedByEnv, retryAfter] = await Promise.all([
    start(),
    start(["--forceNamespaced"]),
    start([], { FORCENAMESPACED: "true" }),
    start(["--set-retry-after-header"]),
  ]);
  await Promise.all([plain, forcedByFlag, forcedByEnv, retryAfter].map((n) => n.waitForLog("informer caches synced")));
}, 30_000);

afterAll(async () => {
  await Promise.all([plain, forcedByFlag, forcedByEnv, retryAfter].map((n) => n?.stop()));
  await world?.stop();
});

describe("namespaced mode, compiled NMI", () => {
  test("control: without namespaced mode the team-b pod's record (a team-a identity) is served", async () => {
    const { answer } = await timed(IP.intruder, plain);
    expect(answer.status).toBe(200);
    expect(decodeClaims(String(answer.json().access_token)).appid).toBe(world.identity("app-identity").clientId);
  }, 15_000);

  for (const [how, nmi] of [
    ["--forceNamespaced", () => forcedByFlag],
    ["FORCENAMESPACED=true", () => forcedByEnv],
  ] as const) {
    test(`${how}: the team-b pod is refused with 404 at once and IMDS is not asked; the team-a pod is served`, async () => {
      const before = imdsTokenRequests(world.identity("app-identity").clientId);
      const { answer, ms } = await timed(IP.intruder, nmi());
      expect(answer.status).toBe(404);
      expect(String(answer.json().error_description)).toContain(
        `no azure identity found for pod ${TEAM_B}/intruder in its namespace (namespaced mode)`,
      );
      expect(answer.json().access_token).toBeUndefined();
      // Refused, not held for the assignment budget (100 s): waiting cannot make the record allowed.
      expect(ms).toBeLessThan(5000);
      expect(imdsTokenRequests(world.identity("app-identity").clientId)).toBe(before);

      const own = await timed(IP.appPod, nmi());
      expect(own.answer.status).toBe(200);
      expect(decodeClaims(String(own.answer.json().access_token)).appid).toBe(world.identity("app-identity").clientId);
    }, 15_000);
  }

  test("annotation Behavior: namespaced on the identity: another namespace's pod is refused without any flag; its own namespace's pod is served", async () => {
    const clientId = world.identity("annotated-identity").clientId;
    const before = imdsTokenRequests(clientId);
    const { answer, ms } = await timed(IP.annotatedIntruder, plain);
    expect(answer.status).toBe(404);
    expect(String(answer.json().error_description)).toContain(
      `no azure identity found for pod ${TEAM_B}/annotated-intruder in its namespace (namespaced mode)`,
    );
    expect(ms).toBeLessThan(5000);
    expect(imdsTokenRequests(clientId)).toBe(before);

    const own = await timed(IP.annotatedPod, plain);
    expect(own.answer.status).toBe(200);
    expect(decodeClaims(String(own.answer.json().access_token)).appid).toBe(clientId);
  }, 15_000);
});

describe("--set-retry-after-header, compiled NMI", () => {
  test("a bound pod with no record yet gets 503 + Retry-After: 20 at once, not a 100 s hold", async () => {
    const { answer, ms } = await timed(IP.unassignedPod, retryAfter);
    expect(answer.status).toBe(503);
    expect(answer.headers["retry-after"]).toBe("20");
    expect(String(answer.json().error_description)).toContain("default/unassigned-pod");
    expect(ms).toBeLessThan(5000);
  }, 15_000);

  test("a pod whose record is Created gets 503 + Retry-After: 20 at once; once Assigned, its token", async () => {
    const clientId = world.identity("late-identity").clientId;
    const { answer, ms } = await timed(IP.createdPod, retryAfter);
    expect(answer.status).toBe(503);
    expect(answer.headers["retry-after"]).toBe("20");
    expect(ms).toBeLessThan(5000);
    expect(imdsTokenRequests(clientId)).toBe(0);

    setRecordStatus(`created-pod-default-late-identity`, "Assigned");
    await world.waitFor(
      async () => (await getFrom(IP.createdPod, retryAfter.port, tokenPath(RESOURCE))).status === 200,
      5000,
      "the Assigned record to reach NMI",
    );
    const served = await timed(IP.createdPod, retryAfter);
    expect(served.answer.status).toBe(200);
    expect(served.answer.headers["retry-after"]).toBeUndefined();
    expect(decodeClaims(String(served.answer.json().access_token)).appid).toBe(clientId);
  }, 15_000);
});
