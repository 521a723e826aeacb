// Which pod a source IP belongs to (pickCaller), including IP reuse while the old pod is terminating,
// and when the server waits for a newer pod before trusting the lookup (awaitsNewerPod).
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { awaitsNewerPod, pickCaller } from "../../src/roles/nmi/caller-lookup.ts";
import type { PodInfo } from "../../src/roles/nmi/ports.ts";
import { podInfoOf } from "../../src/roles/nmi/wiring/pod-info.ts";

function pod(name: string, extra: Partial<PodInfo> = {}): PodInfo {
  return {
    name,
    namespace: "ns",
    uid: `uid-${name}`,
    ip: "10.0.0.7",
    phase: "Running",
    labels: {},
    ownerReferences: [],
    ...extra,
  };
}

describe("pickCaller", () => {
  test("no pod: none; one pod: that pod, even while it terminates (it may still ask during its grace period)", () => {
    expect(pickCaller([])).toEqual({ kind: "none" });
    const leaving = pod("old", { terminating: true });
    expect(pickCaller([leaving])).toEqual({ kind: "found", pod: leaving });
  });

  test("IP reuse: an old pod being deleted and a new pod with the same IP → the new pod, in either order", () => {
    const old = pod("old", { terminating: true });
    const fresh = pod("new");
    expect(pickCaller([old, fresh])).toEqual({ kind: "found", pod: fresh });
    expect(pickCaller([fresh, old])).toEqual({ kind: "found", pod: fresh });
  });

  test("two live pods with the IP stay ambiguous (terminating ones are left out of the list)", () => {
    const a = pod("a");
    const b = pod("b");
    const result = pickCaller([a, pod("old", { terminating: true }), b]);
    expect(result).toEqual({ kind: "ambiguous", pods: [a, b] });
  });

  test("several terminating pods and no live one: ambiguous, naming them all", () => {
    const x = pod("x", { terminating: true });
    const y = pod("y", { terminating: true });
    expect(pickCaller([x, y])).toEqual({ kind: "ambiguous", pods: [x, y] });
  });
});

describe("podInfoOf", () => {
  test("a deletionTimestamp marks the pod terminating", () => {
    const info = podInfoOf({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "ns", deletionTimestamp: "2024-01-01T00:00:00Z" },
      spec: { nodeName: "n" },
      status: { phase: "Running", podIP: "10.0.0.7" },
    } as Parameters<typeof podInfoOf>[0]);
    expect(info.terminating).toBe(true);
    expect(info.ip).toBe("10.0.0.7");
  });
});

describe("awaitsNewerPod (whether the server waits for the pod informer before trusting a lookup)", () => {
  test("no pod yet, or only terminating pods (one or several): wait, the IP may be reused by a pod not seen yet", () => {
    expect(awaitsNewerPod({ kind: "none" })).toBe(true);
    expect(awaitsNewerPod({ kind: "found", pod: pod("old", { terminating: true }) })).toBe(true);
    const x = pod("x", { terminating: true });
    const y = pod("y", { terminating: true });
    expect(awaitsNewerPod(pickCaller([x, y]))).toBe(true);
  });

  test("a non-terminating pod holds the IP (alone, beside a terminating one, or two live ones): no wait", () => {
    expect(awaitsNewerPod(pickCaller([pod("live")]))).toBe(false);
    expect(awaitsNewerPod(pickCaller([pod("old", { terminating: true }), pod("new")]))).toBe(false);
    expect(awaitsNewerPod(pickCaller([pod("a"), pod("b"), pod("old", { terminating: true })]))).toBe(false);
  });

  test("over any mix of pods, it waits exactly when no non-terminating pod holds the IP", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 5 }), (terminating) => {
        const candidates = terminating.map((t, i) => pod(`p${i}`, { terminating: t }));
        expect(awaitsNewerPod(pickCaller(candidates))).toBe(candidates.every((p) => p.terminating));
      }),
    );
  });
});
