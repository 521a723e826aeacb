// The emulated world the NMI bench runs against: one AKS node (an availability-set VM) holding the
// bench's user-assigned identities in ARM, pods on that node whose IPs are loopback addresses (so the
// load generator can speak from them), and an Assigned AzureAssignedIdentity per pod, created through the
// kube emulator's programmatic API (MIC is not part of this bench).
import { startWorld, type World } from "../../emulators/world.ts";
import { API_VERSION, NODENAME_LABEL } from "../../src/kube/crds.ts";

export const BENCH_NODE = "aks-bench-12345678-0";
export const BENCH_NAMESPACE = "default";

export interface BenchPod {
  name: string;
  namespace: string;
  /** status.podIP and the load generator's source address. */
  ip: string;
  identity: { name: string; clientId: string; resourceId: string };
}

/** The i-th pod's address: 127.10.0.1 … 127.10.0.250, 127.10.1.1 …; never 127.0.0.x (the host's). */
export function podAddress(index: number, secondOctet = 10): string {
  return `127.${secondOctet}.${Math.floor(index / 250)}.${(index % 250) + 1}`;
}

export function identityName(index: number): string {
  return `bench-id-${index}`;
}

export async function startBenchWorld(identityCount: number): Promise<World> {
  const names = Array.from({ length: identityCount }, (_, i) => identityName(i));
  const world = await startWorld({ vms: [BENCH_NODE], identities: names });
  world.arm.addVm(world.node(BENCH_NODE).computeResourceId, {
    userAssigned: names.map((name) => world.identity(name).resourceId),
  });
  for (const name of names) world.createAzureIdentity(name, { namespace: BENCH_NAMESPACE });
  return world;
}

/**
 * Creates `count` Running pods on the bench node, pod i using identity i mod identityCount, each with an
 * Assigned AzureAssignedIdentity; `ipOf` gives pod i's address.
 */
export function seedPods(
  world: World,
  options: { prefix: string; count: number; identityCount: number; ipOf: (index: number) => string },
): BenchPod[] {
  const pods: BenchPod[] = [];
  for (let i = 0; i < options.count; i++) {
    const name = `${options.prefix}-${i}`;
    const idName = identityName(i % options.identityCount);
    const ref = world.identity(idName);
    const ip = options.ipOf(i);
    world.createPod(name, { node: BENCH_NODE, ip, namespace: BENCH_NAMESPACE, binding: idName });
    const azureIdentity = world.kube.get(API_VERSION, "AzureIdentity", BENCH_NAMESPACE, idName);
    const record = world.kube.create({
      apiVersion: API_VERSION,
      kind: "AzureAssignedIdentity",
      metadata: {
        name: `${name}-${BENCH_NAMESPACE}-${idName}`,
        namespace: BENCH_NAMESPACE,
        labels: { [NODENAME_LABEL]: BENCH_NODE },
      },
      spec: {
        azureIdentityRef: azureIdentity,
        azureBindingRef: {
          metadata: { name: `${idName}-binding`, namespace: BENCH_NAMESPACE },
          spec: { azureIdentity: idName, selector: idName },
        },
        pod: name,
        podNamespace: BENCH_NAMESPACE,
        nodename: BENCH_NODE,
      },
      status: { status: "Assigned" },
    });
    // With a status subresource the create drops status; write it the way MIC does.
    if ((record.status as { status?: string } | undefined)?.status !== "Assigned") {
      world.kube.updateStatus({ ...record, status: { status: "Assigned" } });
    }
    pods.push({ name, namespace: BENCH_NAMESPACE, ip, identity: { name: idName, ...ref } });
  }
  return pods;
}
