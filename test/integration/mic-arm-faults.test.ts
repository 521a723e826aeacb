// The compiled MIC when ARM says no: identities ARM refuses are dropped from the PATCH and the rest
// still land (their records Assigned, the refused ones Created with ARM's reason in a Warning event),
// and a 429 with Retry-After holds back calls to that scale set only, until the deadline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { userAssignedIdentityId } from "../../emulators/world/naming.ts";
import { azureIdentityObject } from "../../emulators/world/objects.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { compiledBinary, eventsWithReason, type MicProcess, metricValue, startMic } from "../support/mic-process.ts";

const SS_A = "aks-poola-33333333-vmss";
const SS_B = "aks-poolb-44444444-vmss";
const NODE_A = `${SS_A}000000`;
const NODE_B = `${SS_B}000000`;

let world: World;
let mic: MicProcess;

const statusOf = (pod: string) =>
  world.assignedIdentities().find((r) => r.spec?.pod === pod)?.status?.status as string | undefined;
const onNode = (node: string, resourceId: string) =>
  world
    .armIdentitiesOf(node)
    .map((id) => id.toLowerCase())
    .includes(resourceId.toLowerCase());
const callsTo = (node: string) =>
  world.arm.calls().filter((c) => c.resourceId?.toLowerCase() === world.node(node).computeResourceId.toLowerCase());

let podIp = 20;
const createPod = (name: string, node: string, selector: string) =>
  world.createPod(name, { node, ip: `10.244.1.${podIp++}`, binding: selector });

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({
    scaleSets: [
      { name: SS_A, nodes: 1 },
      { name: SS_B, nodes: 1 },
    ],
    identities: ["good", "denied", "throttled-a", "free-b"],
  });
  mic = await startMic(world, binary, { instance: "mic-faults" });
  await world.waitFor(async () => (await mic.health())?.body === "Active", 10_000, "MIC active");
}, 60_000);

afterAll(async () => {
  await mic?.stop();
  await world?.stop();
});

describe("MIC and ARM failures (compiled binary)", () => {
  test("one valid and two invalid identities in one batch: the valid one Assigned, the others Created with ARM's reason", async () => {
    const missingId = userAssignedIdentityId(world, "never-created");
    world.arm.denyIdentity(world.identity("denied").resourceId, "LinkedAuthorizationFailed");
    world.createAzureIdentity("good");
    world.createAzureIdentity("denied");
    world.kube.create(
      azureIdentityObject("missing", "default", {
        resourceId: missingId,
        clientId: "00000000-0000-0000-0000-00000000abcd",
        principalId: "00000000-0000-0000-0000-00000000dcba",
      }),
    );
    for (const name of ["good", "denied", "missing"])
      world.createAzureIdentityBinding(`${name}-binding`, { azureIdentity: name, selector: name });
    // All three in one tick: one batch for the scale set.
    createPod("good-pod", NODE_A, "good");
    createPod("denied-pod", NODE_A, "denied");
    createPod("missing-pod", NODE_A, "missing");

    await world.waitFor(() => statusOf("good-pod") === "Assigned", 10_000, "good-pod Assigned");
    await world.waitFor(
      () => {
        const warnings = eventsWithReason(world, "binding apply error").filter((e) => e.type === "Warning");
        const about = (binding: string, reason: string) =>
          warnings.some((e) => e.involvedObject?.name === binding && String(e.message).includes(reason));
        return (
          about("denied-binding", "LinkedAuthorizationFailed") && about("missing-binding", "FailedIdentityOperation")
        );
      },
      10_000,
      "Warning events with ARM's reasons",
    );
    expect(onNode(NODE_A, world.identity("good").resourceId)).toBe(true);
    expect(onNode(NODE_A, world.identity("denied").resourceId)).toBe(false);
    expect(onNode(NODE_A, missingId)).toBe(false);
    expect(statusOf("denied-pod")).toBe("Created");
    expect(statusOf("missing-pod")).toBe("Created");
  }, 20_000);

  test("a 429 with Retry-After: no call to that scale set before the deadline, other scale sets proceed", async () => {
    const retryAfterSeconds = 3;
    world.arm.throttleNext(world.node(NODE_A).computeResourceId, retryAfterSeconds, 1);
    world.createAzureIdentity("throttled-a");
    world.createAzureIdentityBinding("throttled-a-binding", { azureIdentity: "throttled-a", selector: "throttled-a" });
    world.createAzureIdentity("free-b");
    world.createAzureIdentityBinding("free-b-binding", { azureIdentity: "free-b", selector: "free-b" });
    createPod("throttled-pod", NODE_A, "throttled-a");
    createPod("free-pod", NODE_B, "free-b");

    await world.waitFor(() => statusOf("free-pod") === "Assigned", 10_000, "free-pod Assigned");
    const freeAssignedAt = Date.now();
    await world.waitFor(() => statusOf("throttled-pod") === "Assigned", 15_000, "throttled-pod Assigned");

    const calls = callsTo(NODE_A);
    const throttledIndex = calls.findIndex((c) => c.status === 429);
    expect(throttledIndex).toBeGreaterThanOrEqual(0);
    const throttledAt = calls[throttledIndex]?.at ?? 0;
    const next = calls[throttledIndex + 1];
    expect(next).toBeDefined();
    expect((next?.at ?? 0) - throttledAt).toBeGreaterThanOrEqual(retryAfterSeconds * 1000);
    // The other scale set did not wait for the throttled one.
    expect(freeAssignedAt).toBeLessThan(throttledAt + retryAfterSeconds * 1000);
    const metrics = await mic.metrics();
    expect(
      metricValue(metrics, "aadpodidentity_cloud_provider_throttled_seconds_total", { target: SS_A }),
    ).toBeGreaterThanOrEqual(retryAfterSeconds);
  }, 20_000);
});
