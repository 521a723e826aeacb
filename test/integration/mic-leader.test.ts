// Two or three compiled MIC processes sharing one Lease: the standby answers "Not Active"; SIGKILL
// of the leader hands over within the lease duration and the new leader converges without removing
// an identity a pod needs; SIGTERM releases the lease so a standby takes over at once; a leader cut
// off from the API server answers 503, stops leading and writes nothing until it leads again. Each
// new leader records client-go's Normal "LeaderElection" event ("<identity> became leader") on the Lease.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startWorld, type World } from "../../emulators/world.ts";
import { compiledBinary, type MicProcess, metricValue, startMic } from "../support/mic-process.ts";

const SCALE_SET = "aks-nodepool1-77777777-vmss";
const NODE0 = `${SCALE_SET}000000`;
const NODE1 = `${SCALE_SET}000001`;
const LEASE_SECONDS = 4;
/**
 * A standby takes over once the lease expires (at most a lease after the dead leader's last renewal)
 * and its next attempt comes (a quarter of the lease plus jitter): about 1.3 leases. The bound is two
 * leases: it still rules out a second lease period or waiting for the dead leader, and it leaves room
 * for a stalled 2-core CI machine, where 1.5 leases once failed by a few hundred milliseconds.
 */
const TAKEOVER_BOUND_MS = LEASE_SECONDS * 1000 * 2;

let binary: string;
let world: World;
const processes: MicProcess[] = [];

const holder = () =>
  world.kube.get("coordination.k8s.io/v1", "Lease", "default", "aad-pod-identity-mic")?.spec?.holderIdentity as
    | string
    | undefined;
const statusOf = (pod: string) =>
  world.assignedIdentities().find((r) => r.spec?.pod === pod)?.status?.status as string | undefined;
const onScaleSet = (identity: string) =>
  world
    .armIdentitiesOf(NODE0)
    .map((id) => id.toLowerCase())
    .includes(world.identity(identity).resourceId.toLowerCase());

/** Messages of the "LeaderElection" events on the Lease (source component aadpodidentity.k8s.io). */
const leaderEvents = () =>
  world.kube
    .list("v1", "Event", "default")
    .filter(
      (e) =>
        e.reason === "LeaderElection" &&
        e.type === "Normal" &&
        e.involvedObject?.kind === "Lease" &&
        e.involvedObject?.apiVersion === "coordination.k8s.io/v1" &&
        e.involvedObject?.namespace === "default" &&
        e.involvedObject?.name === "aad-pod-identity-mic" &&
        e.source?.component === "aadpodidentity.k8s.io",
    )
    .map((e) => e.message as string);

async function mic(instance: string): Promise<MicProcess> {
  const started = await startMic(world, binary, { instance, leaseDuration: `${LEASE_SECONDS}s` });
  processes.push(started);
  return started;
}

let podIp = 40;
function podWith(identity: string, name: string, node = NODE0) {
  world.createAzureIdentity(identity);
  world.createAzureIdentityBinding(`${identity}-binding`, { azureIdentity: identity, selector: identity });
  world.createPod(name, { node, ip: `10.244.3.${podIp++}`, binding: identity });
}

beforeAll(async () => {
  binary = compiledBinary();
  world = await startWorld({
    scaleSets: [{ name: SCALE_SET, nodes: 2 }],
    identities: ["before-crash", "during-crash", "after-release", "while-cut-off"],
  });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.kill()));
  await world?.stop();
});

describe("MIC leader election (compiled binaries)", () => {
  let a: MicProcess;
  let b: MicProcess;
  let c: MicProcess;

  test("one leader is Active; the standby answers 200 Not Active and reports the leader gauge 0", async () => {
    a = await mic("mic-a");
    await world.waitFor(async () => (await a.health())?.body === "Active", 10_000, "mic-a Active");
    b = await mic("mic-b");
    await world.waitFor(async () => (await b.health())?.status === 200, 10_000, "mic-b healthy");
    expect(await b.health()).toEqual({ status: 200, body: "Not Active" });
    expect(holder()).toBe("mic-a");
    podWith("before-crash", "pod-before");
    await world.waitFor(() => statusOf("pod-before") === "Assigned", 10_000, "pod-before Assigned");
    expect(metricValue(await b.metrics(), "aadpodidentity_mic_leader")).toBe(0);
    expect(metricValue(await a.metrics(), "aadpodidentity_mic_leader")).toBe(1);
    await world.waitFor(() => leaderEvents().length > 0, 5_000, "LeaderElection event");
    expect(leaderEvents()).toEqual(["mic-a became leader"]);
    const lease = world.kube.get("coordination.k8s.io/v1", "Lease", "default", "aad-pod-identity-mic");
    const event = world.kube.list("v1", "Event", "default").find((e) => e.reason === "LeaderElection");
    expect(event?.involvedObject?.uid).toBe(lease?.metadata.uid);
  }, 20_000);

  test("SIGKILL of the leader: the standby takes over within the lease and converges, keeping needed identities", async () => {
    await a.kill();
    podWith("during-crash", "pod-during", NODE1);
    let lostNeededIdentity = false;
    await world.waitFor(
      () => {
        if (!onScaleSet("before-crash")) lostNeededIdentity = true;
        return holder() === "mic-b";
      },
      TAKEOVER_BOUND_MS,
      "mic-b holds the lease",
    );
    await world.waitFor(
      () => {
        if (!onScaleSet("before-crash")) lostNeededIdentity = true;
        return statusOf("pod-during") === "Assigned";
      },
      10_000,
      "pod-during Assigned by mic-b",
    );
    expect(lostNeededIdentity).toBe(false);
    expect(onScaleSet("during-crash")).toBe(true);
    expect(statusOf("pod-before")).toBe("Assigned");
    expect((await b.health())?.body).toBe("Active");
    await world.waitFor(() => leaderEvents().includes("mic-b became leader"), 5_000, "mic-b LeaderElection event");
  }, 30_000);

  test("SIGTERM releases the lease: a standby takes over well before the lease would expire", async () => {
    c = await mic("mic-c");
    await world.waitFor(async () => (await c.health())?.body === "Not Active", 10_000, "mic-c standby");
    const stoppedAt = Date.now();
    expect(await b.stop()).toBe(0);
    expect(b.logs()).toContain("released the lease");
    await world.waitFor(() => holder() === "mic-c", LEASE_SECONDS * 1000, "mic-c holds the lease");
    // Released, not expired: the takeover took less than a lease duration.
    expect(Date.now() - stoppedAt).toBeLessThan(LEASE_SECONDS * 1000);
    podWith("after-release", "pod-after");
    await world.waitFor(() => statusOf("pod-after") === "Assigned", 10_000, "pod-after Assigned by mic-c");
  }, 20_000);

  test("cut off from the API server: 503, leadership lost, no writes until it leads again", async () => {
    // Lease requests fail for about six retry periods: longer than the renew deadline (half the lease).
    world.kube.failNext({ pathIncludes: "/leases/" }, 503, 6);
    await world.waitFor(async () => (await c.health())?.status === 503, 10_000, "mic-c 503");
    await world.waitFor(
      async () => metricValue(await c.metrics(), "aadpodidentity_mic_leader") === 0,
      10_000,
      "mic-c stopped leading",
    );
    const lostAt = world.kube.requests().length;
    podWith("while-cut-off", "pod-cut-off");
    await world.waitFor(
      async () => metricValue(await c.metrics(), "aadpodidentity_mic_leader") === 1,
      15_000,
      "mic-c leads again",
    );
    // Leadership came back with the first lease write that succeeded after the cut.
    const since = world.kube.requests().slice(lostAt);
    const regained = since.findIndex((r) => r.path.includes("/leases/") && r.method === "PUT" && r.status === 200);
    expect(regained).toBeGreaterThanOrEqual(0);
    const writesWhileNotLeading = since
      .slice(0, regained)
      .filter((r) => r.path.includes("azureassignedidentities") && r.method !== "GET");
    expect(writesWhileNotLeading).toEqual([]);
    await world.waitFor(() => statusOf("pod-cut-off") === "Assigned", 10_000, "pod-cut-off Assigned");
    expect((await c.health())?.body).toBe("Active");
  }, 20_000);
});
