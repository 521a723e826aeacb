// /metrics of the compiled MIC: every metric of the original MIC (§6, aadpodidentity_ prefix, values
// in seconds) is recorded when its operation happens, plus the additions (leader gauge,
// queue depth per scale set, ARM calls by operation and result, time throttled, time from pod
// creation to Assigned). Each is driven here by the operation it measures, including the failures
// that feed the error counters (a 500 from the API server, a 429 from ARM).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startWorld, type World } from "../../emulators/world.ts";
import { compiledBinary, type MicProcess, metricValue, startMic } from "../support/mic-process.ts";

const SCALE_SET = "aks-metrics-88888888-vmss";
const NODE = `${SCALE_SET}000000`;
const VM = "aks-metricsvm-99999999-0";

let world: World;
let mic: MicProcess;

const statusOf = (pod: string) =>
  world.assignedIdentities().find((r) => r.spec?.pod === pod)?.status?.status as string | undefined;
const gone = (pod: string) => !world.assignedIdentities().some((r) => r.spec?.pod === pod);
const metric = (text: string, name: string, labels: Record<string, string> = {}) =>
  metricValue(text, `aadpodidentity_${name}`, labels) ?? 0;

let podIp = 10;
function podWith(identity: string, name: string, node = NODE) {
  world.createAzureIdentity(identity);
  world.createAzureIdentityBinding(`${identity}-binding`, { azureIdentity: identity, selector: identity });
  world.createPod(name, { node, ip: `10.244.6.${podIp++}`, binding: identity });
}

/** Scrapes until `ready` holds (MIC records a metric just after the write it measures). */
async function scrapeUntil(ready: (text: string) => boolean, what: string): Promise<string> {
  return world.waitFor(
    async () => {
      const text = await mic.metrics();
      return ready(text) ? text : undefined;
    },
    5_000,
    what,
  );
}

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({
    scaleSets: [{ name: SCALE_SET, nodes: 1 }],
    vms: [VM],
    identities: ["metrics-app", "edited-app", "edited-target", "vm-app", "throttled-app", "kube-fault-app"],
  });
  mic = await startMic(world, binary, { instance: "mic-metrics" });
  await world.waitFor(async () => (await mic.health())?.body === "Active", 10_000, "MIC active");
}, 60_000);

afterAll(async () => {
  await mic?.stop();
  await world?.stop();
});

describe("MIC /metrics (compiled binary)", () => {
  test("leadership: one election counted, leader gauge 1", async () => {
    const text = await mic.metrics();
    expect(metric(text, "mic_new_leader_election_count")).toBe(1);
    expect(metric(text, "mic_leader")).toBe(1);
  });

  test("an assignment records the record creation, the ARM get and update, the run, and the time from pod creation to Assigned", async () => {
    podWith("metrics-app", "metrics-pod");
    await world.waitFor(() => statusOf("metrics-pod") === "Assigned", 10_000, "metrics-pod Assigned");
    const text = await scrapeUntil(
      (t) => metric(t, "mic_pod_assignment_duration_seconds_count") >= 1,
      "assignment latency recorded",
    );
    expect(metric(text, "assigned_identity_addition_count")).toBeGreaterThanOrEqual(1);
    expect(metric(text, "assigned_identity_addition_duration_seconds_count")).toBeGreaterThanOrEqual(1);
    for (const operation_type of ["vmss_get", "vmss_update"]) {
      expect(
        metric(text, "cloud_provider_operations_duration_seconds_count", { operation_type }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        metric(text, "cloud_provider_operations_total", { operation_type, result: "success" }),
      ).toBeGreaterThanOrEqual(1);
    }
    expect(metric(text, "mic_cycle_count")).toBeGreaterThanOrEqual(1);
    expect(metric(text, "mic_cycle_duration_seconds_count")).toBe(metric(text, "mic_cycle_count"));
    expect(metric(text, "mic_target_queue_depth", { target: SCALE_SET })).toBe(0);
  }, 20_000);

  test("a standalone VM is counted under vm_get / vm_update", async () => {
    podWith("vm-app", "vm-pod", VM);
    await world.waitFor(() => statusOf("vm-pod") === "Assigned", 10_000, "vm-pod Assigned");
    const text = await scrapeUntil(
      (t) => metric(t, "cloud_provider_operations_total", { operation_type: "vm_update", result: "success" }) >= 1,
      "vm_update counted",
    );
    expect(
      metric(text, "cloud_provider_operations_duration_seconds_count", { operation_type: "vm_get" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metric(text, "cloud_provider_operations_duration_seconds_count", { operation_type: "vm_update" }),
    ).toBeGreaterThanOrEqual(1);
  }, 20_000);

  test("an identity edited in place counts a record update; a deleted pod counts a record deletion", async () => {
    podWith("edited-app", "edited-pod");
    await world.waitFor(() => statusOf("edited-pod") === "Assigned", 10_000, "edited-pod Assigned");
    const identity = world.kube.get("aadpodidentity.k8s.io/v1", "AzureIdentity", "default", "edited-app");
    const target = world.identity("edited-target");
    world.kube.update({
      ...identity,
      spec: { ...(identity?.spec as object), resourceID: target.resourceId, clientID: target.clientId },
    } as NonNullable<typeof identity>);
    await world.waitFor(
      () =>
        world
          .assignedIdentities()
          .some(
            (r) => r.spec?.pod === "edited-pod" && r.spec?.azureIdentityRef?.spec?.resourceID === target.resourceId,
          ),
      10_000,
      "edited-pod's record rewritten",
    );
    world.kube.remove("v1", "Pod", "default", "edited-pod");
    await world.waitFor(() => gone("edited-pod"), 10_000, "edited-pod's record deleted");
    const text = await scrapeUntil(
      (t) => metric(t, "assigned_identity_deletion_count") >= 1 && metric(t, "assigned_identity_update_count") >= 1,
      "update and deletion counted",
    );
    expect(metric(text, "assigned_identity_update_duration_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(metric(text, "assigned_identity_deletion_duration_seconds_count")).toBeGreaterThanOrEqual(1);
  }, 20_000);

  test("a 429 counts an ARM error, a throttled call and the seconds of Retry-After", async () => {
    world.arm.throttleNext(world.node(NODE).computeResourceId, 1);
    podWith("throttled-app", "throttled-pod");
    await world.waitFor(() => statusOf("throttled-pod") === "Assigned", 10_000, "throttled-pod Assigned");
    const text = await scrapeUntil(
      (t) => metric(t, "cloud_provider_throttled_seconds_total", { target: SCALE_SET }) >= 1,
      "throttled time recorded",
    );
    const throttledCalls =
      metric(text, "cloud_provider_operations_total", { operation_type: "vmss_get", result: "throttled" }) +
      metric(text, "cloud_provider_operations_total", { operation_type: "vmss_update", result: "throttled" });
    expect(throttledCalls).toBe(1);
    const errors =
      metric(text, "cloud_provider_operations_errors_count", { operation_type: "vmss_get" }) +
      metric(text, "cloud_provider_operations_errors_count", { operation_type: "vmss_update" });
    expect(errors).toBeGreaterThanOrEqual(1);
  }, 20_000);

  test("a 500 from the API server on a record creation counts a Kubernetes API error, and MIC retries", async () => {
    world.kube.failNext({ method: "POST", pathIncludes: "azureassignedidentities" }, 500);
    podWith("kube-fault-app", "kube-fault-pod");
    await world.waitFor(() => statusOf("kube-fault-pod") === "Assigned", 10_000, "kube-fault-pod Assigned");
    const text = await scrapeUntil(
      (t) => metric(t, "kubernetes_api_operations_errors_count", { operation_type: "assigned_identity_addition" }) >= 1,
      "kube error counted",
    );
    expect(
      metric(text, "kubernetes_api_operations_errors_count", { operation_type: "assigned_identity_addition" }),
    ).toBe(1);
  }, 20_000);
});
