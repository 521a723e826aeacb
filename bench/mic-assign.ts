// A wave of pods against the compiled MIC: 1,000 pods over 100 nodes (5 scale sets of 16 nodes and
// 20 standalone VMs) using 50 identities, with the ARM emulator taking L seconds per identity PATCH
// (its long-running operation). Prints, per L: time from the pods' creation to all Assigned as a
// multiple of L, ARM writes (PATCHes) in total and per VM / scale set, and 429s.
// Goals: all Assigned within 2 × L + 2 s; at most two PATCHes per scale set or VM; no 429s.
// Benches print; they do not assert.
//
// Run: bun bench/mic-assign.ts [L seconds ...]   (default: 2 5)
import { startWorld } from "../emulators/world.ts";
import { compiledBinary, startMic } from "../test/support/mic-process.ts";

const PODS = 1000;
const SCALE_SETS = 5;
const NODES_PER_SCALE_SET = 16;
const VMS = 20;
const IDENTITIES = 50;

interface Row {
  latencySeconds: number;
  allAssignedSeconds: number;
  patches: number;
  maxPatchesPerTarget: number;
  targetsPatched: number;
  throttled: number;
}

async function wave(binary: string, latencySeconds: number): Promise<Row> {
  const identityNames = Array.from({ length: IDENTITIES }, (_, i) => `bench-id-${i}`);
  const world = await startWorld({
    scaleSets: Array.from({ length: SCALE_SETS }, (_, i) => ({
      name: `aks-pool${i}-1234567${i}-vmss`,
      nodes: NODES_PER_SCALE_SET,
    })),
    vms: Array.from({ length: VMS }, (_, i) => `aks-agentpool-87654321-${i}`),
    identities: identityNames,
    armLatencyMs: latencySeconds * 1000,
  });
  // --clientQps 5 (the original's default) alone would spread the wave's 2,000 record writes over 400 s.
  const mic = await startMic(world, binary, {
    instance: "mic-bench",
    leaseDuration: "15s",
    extraArgs: ["--clientQps", "2000"],
  });
  try {
    await world.waitFor(async () => (await mic.health())?.body === "Active", 30_000, "MIC active");
    for (const name of identityNames) {
      world.createAzureIdentity(name);
      world.createAzureIdentityBinding(`${name}-binding`, { azureIdentity: name, selector: name });
    }
    // Let MIC see identities and bindings before the wave (they normally exist long before pods).
    await Bun.sleep(200);
    const callsBefore = world.arm.calls().length;
    const started = performance.now();
    for (let i = 0; i < PODS; i++) {
      world.createPod(`bench-pod-${i}`, {
        node: world.nodes[i % world.nodes.length]?.name ?? "",
        ip: `10.244.${Math.floor(i / 250)}.${(i % 250) + 2}`,
        binding: identityNames[i % IDENTITIES] ?? "",
      });
    }
    await world.waitFor(
      () => {
        const records = world.assignedIdentities();
        return records.length === PODS && records.every((r) => r.status?.status === "Assigned");
      },
      120_000 + latencySeconds * 10_000,
      "all Assigned",
    );
    const allAssignedSeconds = (performance.now() - started) / 1000;
    const calls = world.arm.calls().slice(callsBefore);
    const patches = calls.filter((c) => c.method === "PATCH" && c.status < 300);
    const perTarget = new Map<string, number>();
    for (const p of patches) perTarget.set(p.resourceId ?? "?", (perTarget.get(p.resourceId ?? "?") ?? 0) + 1);
    return {
      latencySeconds,
      allAssignedSeconds,
      patches: patches.length,
      maxPatchesPerTarget: Math.max(0, ...perTarget.values()),
      targetsPatched: perTarget.size,
      throttled: calls.filter((c) => c.status === 429).length,
    };
  } finally {
    await mic.stop();
    await world.stop();
  }
}

const latencies = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const binary = compiledBinary();
const rows: Row[] = [];
for (const latency of latencies.length > 0 ? latencies : [2, 5]) rows.push(await wave(binary, latency));

console.log(
  `mic assign wave: ${PODS} pods, ${SCALE_SETS * NODES_PER_SCALE_SET + VMS} nodes (${SCALE_SETS} scale sets, ${VMS} VMs), ${IDENTITIES} identities`,
);
console.log("| L (s) | all Assigned (s) | ÷ L | goal 2L+2 (s) | PATCHes | targets | max PATCHes/target | 429s |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.latencySeconds} | ${r.allAssignedSeconds.toFixed(2)} | ${(r.allAssignedSeconds / r.latencySeconds).toFixed(2)} | ${2 * r.latencySeconds + 2} | ${r.patches} | ${r.targetsPatched} | ${r.maxPatchesPerTarget} | ${r.throttled} |`,
  );
}
