// Lease leader election against the Kubernetes API emulator: one leader at a time (checked
// continuously), takeover after a crash, immediate handover on release, demotion past the renew deadline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type KubeEmulator, startKubeEmulator } from "../../emulators/kube/index.ts";
import { createKubeClient, type KubeClient, loadKubeConfig } from "../../src/kube/client.ts";
import { type LeaderElectionOptions, LeaderElector } from "../../src/kube/leader-election.ts";
import { until } from "../support/until.ts";

const tmp = mkdtempSync(join(tmpdir(), "kube-leader-"));
let kube: KubeEmulator;
let client: KubeClient;
const electors: LeaderElector[] = [];

/** Samples the candidates every few ms and counts moments when more than one leads. */
function watchForSplitBrain(candidates: LeaderElector[]): { overlaps: () => number; stop: () => void } {
  let overlaps = 0;
  const timer = setInterval(() => {
    if (candidates.filter((c) => c.isLeader()).length > 1) overlaps++;
  }, 2);
  return { overlaps: () => overlaps, stop: () => clearInterval(timer) };
}

function candidate(identity: string, lease: string, over: Partial<LeaderElectionOptions> = {}) {
  const log: string[] = [];
  const elector = new LeaderElector({
    client,
    namespace: "default",
    name: lease,
    identity,
    onStartedLeading: () => log.push("started"),
    onStoppedLeading: (reason) => log.push(`stopped: ${reason}`),
    onNewLeader: (leader) => log.push(`leader ${leader}`),
    ...over,
  });
  electors.push(elector);
  return { elector, log };
}

const leaseHolder = (name: string) => kube.get("coordination.k8s.io/v1", "Lease", "default", name)?.spec;

beforeAll(async () => {
  kube = await startKubeEmulator();
  const path = join(tmp, "kubeconfig");
  writeFileSync(path, kube.kubeconfigYaml);
  client = createKubeClient(loadKubeConfig({ kubeconfigPath: path, env: {} }), { userAgent: "leader-test" });
});

afterAll(async () => {
  await Promise.all(electors.map((e) => e.stop({ release: false })));
  await kube?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("LeaderElector", () => {
  test("two candidates never both lead; a crashed leader is replaced once its lease expires", async () => {
    const a = candidate("mic-a", "crash", { leaseDurationMs: 2000 });
    const b = candidate("mic-b", "crash", { leaseDurationMs: 2000 });
    const monitor = watchForSplitBrain([a.elector, b.elector]);
    a.elector.start();
    b.elector.start();
    await until("someone leads", () => a.elector.isLeader() || b.elector.isLeader());
    const [leader, standby] = a.elector.isLeader() ? [a, b] : [b, a];
    const leaderId = leader === a ? "mic-a" : "mic-b";
    const standbyId = leader === a ? "mic-b" : "mic-a";
    expect(leaseHolder("crash")).toMatchObject({ holderIdentity: leaderId, leaseDurationSeconds: 2 });
    await until("the standby learns who leads", () => standby.log.includes(`leader ${leaderId}`));
    expect(standby.elector.leader()).toBe(leaderId);
    const transitionsBefore = Number(leaseHolder("crash")?.leaseTransitions ?? 0);

    // Crash: stop without releasing. The lease stays held until it expires on the standby's clock.
    await leader.elector.stop({ release: false });
    expect(leaseHolder("crash")?.holderIdentity).toBe(leaderId);
    await until("the standby takes over", () => standby.elector.isLeader());
    expect(leaseHolder("crash")).toMatchObject({ holderIdentity: standbyId, leaseTransitions: transitionsBefore + 1 });
    expect(standby.log).toContain("started");
    expect(standby.log).toContain(`leader ${standbyId}`);
    monitor.stop();
    expect(monitor.overlaps()).toBe(0);
    await standby.elector.stop();
  });

  test("a clean stop releases the lease so the standby takes over without waiting for expiry", async () => {
    // A 60 s lease: the standby can only lead within this test's time if the lease was released.
    const timings = { leaseDurationMs: 60_000, renewDeadlineMs: 2_000, retryPeriodMs: 100 };
    const a = candidate("mic-a", "release", timings);
    const b = candidate("mic-b", "release", timings);
    const monitor = watchForSplitBrain([a.elector, b.elector]);
    a.elector.start();
    await until("mic-a leads", () => a.elector.isLeader());
    b.elector.start();
    await until("mic-b sees mic-a as leader", () => b.log.includes("leader mic-a"));
    expect(b.elector.isLeader()).toBe(false);

    await a.elector.stop();
    expect(a.log).toContain("stopped: stopped");
    await until("mic-b takes over after the release", () => b.elector.isLeader(), 5_000);
    expect(leaseHolder("release")?.holderIdentity).toBe("mic-b");
    monitor.stop();
    expect(monitor.overlaps()).toBe(0);
    await b.elector.stop();
  });

  test("a leader whose renewals fail past the renew deadline stops leading at once, then recovers", async () => {
    let signal: AbortSignal | undefined;
    const a = candidate("mic-a", "deadline", {
      leaseDurationMs: 2000,
      onStartedLeading: (s) => {
        signal = s;
        a.log.push("started");
      },
    });
    a.elector.start();
    await until("mic-a leads", () => a.elector.isLeader());
    expect(signal?.aborted).toBe(false);

    // Every lease request fails for a while (reads and writes).
    kube.failNext({ pathIncludes: "/leases/deadline" }, 500, 6);
    await until("leadership lost", () => !a.elector.isLeader());
    expect(signal?.aborted).toBe(true);
    expect(a.log.some((l) => l.startsWith("stopped: failed to renew the lease within the renew deadline"))).toBe(true);

    // Once the API server answers again, the same candidate re-acquires its own lease.
    await until("mic-a leads again", () => a.elector.isLeader());
    expect(a.log.filter((l) => l === "started")).toHaveLength(2);
    await a.elector.stop();
    expect(leaseHolder("deadline")?.holderIdentity).toBe("");
  });

  test("timings are validated; defaults are renew deadline = duration / 2 and retry period = duration / 4", () => {
    const base = { client, namespace: "default", name: "timings", identity: "i" };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 1000, renewDeadlineMs: 1000 })).toThrow();
    expect(() => new LeaderElector({ ...base, identity: "" })).toThrow();
    // Default retry period = 1000 / 4 = 250 ms: a 300 ms renew deadline is fine, 200 ms is not.
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 1000, renewDeadlineMs: 300 })).not.toThrow();
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 1000, renewDeadlineMs: 200 })).toThrow();
    // Default renew deadline = 1000 / 2 = 500 ms: a 499 ms retry period is fine, 500 ms is not.
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 1000, retryPeriodMs: 499 })).not.toThrow();
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 1000, retryPeriodMs: 500 })).toThrow();
  });
});
