// A wave of pods against the compiled MIC: 1,000 pods over 100 nodes (5 scale sets of 16 nodes and
// 20 standalone VMs) using 50 identities, with the ARM emulator taking L seconds per identity PATCH
// (its long-running operation). Prints, per L: time from the pods' creation to all Assigned as a
// multiple of L, ARM writes (PATCHes) in total and per VM / scale set, and 429s.
// Goals: all Assigned within 2 × L + 2 s; at most two PATCHes per scale set or VM; no 429s.
//
// A second table measures what --clientQps does to such a wave: every record costs about two
// API-server writes (created as Created, then patched to Assigned), so the original's default of 5
// writes per second spreads a wave of N pods over about 2N/5 seconds, whatever ARM does. It runs a
// smaller wave (200 pods, same nodes and identities, L = 2 s) at several --clientQps values,
// the default first, and prints the time to all Assigned and the record writes per second achieved.
// Benches print; they do not assert.
//
// Run: bun bench/mic-assign.ts [L seconds ...]   (default: 2 5; the --clientQps table always runs)
import { startWorld } from "../emulators/world.ts";
import { compiledBinary, startMic } from "../test/support/mic-process.ts";

const PODS = 1000;
const SCALE_SETS = 5;
const NODES_PER_SCALE_SET = 16;
const VMS = 20;
const IDENTITIES = 50;

interface Row {
  pods: number;
  clientQps: number;
  recordWrites: number;
  latencySeconds: number;
  allAssignedSeconds: number;
  patches: number;
  maxPatchesPerTarget: number;
  targetsPatched: number;
  throttled: number;
}

/** The original's --clientQps default. */
const ORIGINAL_CLIENT_QPS = 5;
/** This MIC's default, raised after this table showed what 5 did to a wave. */
const DEFAULT_CLIENT_QPS = 50;
/** High enough that API-server writes never limit the wave: the main table measures MIC and ARM. */
const UNLIMITED_CLIENT_QPS = 2000;
const QPS_WAVE_PODS = 200;
const QPS_WAVE_LATENCY_SECONDS = 2;
const QPS_SWEEP = [ORIGINAL_CLIENT_QPS, 20, DEFAULT_CLIENT_QPS, 200];

const isRecordWrite = (r: { method: string; path: string }) =>
  r.method !== "GET" && r.path.includes("/azureassignedidentities");

async function wave(
  binary: string,
  latencySeconds: number,
  pods = PODS,
  clientQps = UNLIMITED_CLIENT_QPS,
): Promise<Row> {
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
  const mic = await startMic(world, binary, {
    instance: "mic-bench",
    leaseDuration: "15s",
    extraArgs: ["--clientQps", String(clientQps)],
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
    const kubeBefore = world.kube.requests().length;
    const started = performance.now();
    for (let i = 0; i < pods; i++) {
      world.createPod(`bench-pod-${i}`, {
        node: world.nodes[i % world.nodes.length]?.name ?? "",
        ip: `10.244.${Math.floor(i / 250)}.${(i % 250) + 2}`,
        binding: identityNames[i % IDENTITIES] ?? "",
      });
    }
    await world.waitFor(
      () => {
        const records = world.assignedIdentities();
        return records.length === pods && records.every((r) => r.status?.status === "Assigned");
      },
      120_000 + latencySeconds * 10_000 + ((3 * pods) / clientQps) * 1000,
      "all Assigned",
    );
    const allAssignedSeconds = (performance.now() - started) / 1000;
    const calls = world.arm.calls().slice(callsBefore);
    const patches = calls.filter((c) => c.method === "PATCH" && c.status < 300);
    const perTarget = new Map<string, number>();
    for (const p of patches) perTarget.set(p.resourceId ?? "?", (perTarget.get(p.resourceId ?? "?") ?? 0) + 1);
    return {
      pods,
      clientQps,
      recordWrites: world.kube.requests().slice(kubeBefore).filter(isRecordWrite).length,
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
// The same wave at the default --clientQps: what an untuned MIC does, bounded by record writes.
const defaultQpsRow = await wave(binary, rows[0]?.latencySeconds ?? 2, PODS, DEFAULT_CLIENT_QPS);

console.log(
  `mic assign wave: ${PODS} pods, ${SCALE_SETS * NODES_PER_SCALE_SET + VMS} nodes (${SCALE_SETS} scale sets, ${VMS} VMs), ${IDENTITIES} identities; --clientQps ${UNLIMITED_CLIENT_QPS} so that API-server writes do not limit the wave, then the default ${DEFAULT_CLIENT_QPS}`,
);
console.log(
  "| L (s) | --clientQps | all Assigned (s) | ÷ L | goal 2L+2 (s) | PATCHes | targets | max PATCHes/target | 429s | record writes |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of [...rows, defaultQpsRow]) {
  console.log(
    `| ${r.latencySeconds} | ${r.clientQps} | ${r.allAssignedSeconds.toFixed(2)} | ${(r.allAssignedSeconds / r.latencySeconds).toFixed(2)} | ${2 * r.latencySeconds + 2} | ${r.patches} | ${r.targetsPatched} | ${r.maxPatchesPerTarget} | ${r.throttled} | ${r.recordWrites} |`,
  );
}

const qpsRows: Row[] = [];
for (const qps of QPS_SWEEP) qpsRows.push(await wave(binary, QPS_WAVE_LATENCY_SECONDS, QPS_WAVE_PODS, qps));
console.log(
  `\n--clientQps and a wave: ${QPS_WAVE_PODS} pods, same nodes and identities, L = ${QPS_WAVE_LATENCY_SECONDS} s (${ORIGINAL_CLIENT_QPS} is the original's default, ${DEFAULT_CLIENT_QPS} this MIC's)`,
);
console.log(
  "| --clientQps | all Assigned (s) | ÷ L | record writes | writes/s | floor: writes ÷ qps (s) | floor for the 1,000-pod wave (s) |",
);
console.log("|---|---|---|---|---|---|---|");
// The 1,000-pod wave needs fewer writes per pod than the small one (a record whose identity is already
// on its target is written Assigned at once), so its own count gives the floor.
const fullWaveWrites = rows[0]?.recordWrites ?? PODS * 2;
for (const r of qpsRows) {
  console.log(
    `| ${r.clientQps} | ${r.allAssignedSeconds.toFixed(2)} | ${(r.allAssignedSeconds / r.latencySeconds).toFixed(2)} | ${r.recordWrites} | ${(r.recordWrites / r.allAssignedSeconds).toFixed(1)} | ${(r.recordWrites / r.clientQps).toFixed(1)} | ${(fullWaveWrites / r.clientQps).toFixed(0)} |`,
  );
}
