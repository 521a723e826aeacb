// Desired state + plan for 10,000 pods, against a baseline of aad-pod-identity's algorithm
// (every pod scans every binding, then a full diff of all records) measured in the same run.
// Prints the ratio; absolute times depend on the machine. Run: bun bench/mic-plan.ts
import { computeDesiredState, type PodInfo } from "../src/roles/mic/desired-state.ts";
import { planTarget } from "../src/roles/mic/plan.ts";

const PODS = 10_000;
const BINDINGS = 500;
const NODES = 200;
const TARGETS = 25;

const rid = (i: number) =>
  `/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id${i}`;
const identities = Array.from({ length: BINDINGS }, (_, i) => ({
  metadata: { namespace: "default", name: `id${i}`, resourceVersion: "1" },
  spec: { type: 0, resourceID: rid(i), clientID: `client-${i}` },
}));
const bindings = identities.map((id, i) => ({
  metadata: { namespace: "default", name: `b${i}`, resourceVersion: "1" },
  spec: { azureIdentity: id.metadata.name, selector: `sel${i}` },
}));
const pods: PodInfo[] = Array.from({ length: PODS }, (_, i) => ({
  namespace: "default",
  name: `pod-${i}`,
  nodeName: `node-${i % NODES}`,
  phase: "Running",
  labels: { aadpodidbinding: `sel${(i * 7) % BINDINGS}` },
}));
const targetOfNode = (node: string) => `t${Number(node.slice(5)) % TARGETS}`;

/** aad-pod-identity's shape: for each pod, scan all bindings; then diff against all current records. */
function baseline(): number {
  const desired = new Map<string, { node: string; resourceId: string }>();
  for (const pod of pods) {
    const matches = bindings
      .filter((b) => b.spec.selector === pod.labels?.aadpodidbinding)
      .sort((a, b) =>
        `${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}` ? -1 : 1,
      );
    for (const b of matches) {
      const id = identities.find(
        (x) => x.metadata.namespace === b.metadata.namespace && x.metadata.name === b.spec.azureIdentity,
      );
      if (
        !id ||
        !/^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/]+$/i.test(
          id.spec.resourceID,
        )
      )
        continue;
      desired.set(`${pod.name}-${pod.namespace}-${id.metadata.name}`, {
        node: pod.nodeName ?? "",
        resourceId: id.spec.resourceID,
      });
    }
  }
  const perTarget = new Map<string, Set<string>>();
  for (const d of desired.values()) {
    const t = targetOfNode(d.node);
    const set = perTarget.get(t) ?? new Set<string>();
    set.add(d.resourceId.toLowerCase());
    perTarget.set(t, set);
  }
  return perTarget.size;
}

function ours(): number {
  const state = computeDesiredState({ pods, bindings, identities, forceNamespaced: false });
  const byTarget = new Map<string, typeof state.assignments>();
  for (const d of state.assignments) {
    const t = targetOfNode(d.nodeName);
    const list = byTarget.get(t) ?? [];
    list.push(d);
    byTarget.set(t, list);
  }
  let ops = 0;
  for (const desired of byTarget.values()) {
    const plan = planTarget({
      desired,
      current: [],
      desiredElsewhere: () => false,
      existsElsewhere: () => false,
      arm: [],
      pending: [],
      blockedAdds: new Set(),
      immutableClientIds: new Set(),
      now: 0,
      graceMs: 30_000,
    });
    ops += plan.before.length + plan.add.length;
  }
  return ops;
}

function time(fn: () => number, runs: number): number {
  fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? 0;
}

function oursDesiredOnly(): number {
  return computeDesiredState({ pods, bindings, identities, forceNamespaced: false }).assignments.length;
}

const baseMs = time(baseline, 5);
const desiredMs = time(oursDesiredOnly, 5);
const oursMs = time(ours, 5);
console.log(`mic desired+plan, ${PODS} pods, ${BINDINGS} bindings, ${TARGETS} targets`);
console.log(`  baseline (scan all bindings per pod, desired only): ${baseMs.toFixed(1)} ms (median of 5)`);
console.log(`  pod-identity desired only (what each event burst recomputes): ${desiredMs.toFixed(1)} ms (median of 5)`);
console.log(`  ratio baseline/ours, desired only: ${(baseMs / desiredMs).toFixed(2)}x`);
console.log(`  pod-identity (indexed desired + records + per-target plans): ${oursMs.toFixed(1)} ms (median of 5)`);
console.log(`  ratio baseline/ours: ${(baseMs / oursMs).toFixed(2)}x`);
