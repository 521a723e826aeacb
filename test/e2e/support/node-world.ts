// The emulated world of one node, run INSIDE the node's network namespace by the binary e2e tests:
//   ip netns exec <node> bun test/e2e/support/node-world.ts <pod-identity binary> [--no-mic]
// It starts the world (Kubernetes API, ARM, AAD) on the namespace's loopback, an IMDS emulator for the
// node's scale-set instance behind a recording front on 169.254.169.254:80 (the address must already be
// on the namespace's `lo`), and, unless --no-mic (managed mode), the compiled MIC, which assigns
// identities through ARM as on a real cluster. It prints `READY <json>` (NodeWorldInfo) and then answers
// one JSON command per stdin line with `RESULT <json>` on stdout. It never starts NMI: the test runs
// that binary itself, so it can signal it. Closing stdin stops everything.
import * as v from "valibot";
import { podObject } from "../../../emulators/world/objects.ts";
import { startWorld } from "../../../emulators/world.ts";
import { API_VERSION } from "../../../src/kube/crds.ts";
import { armTargetOf, startMic, userArmClient } from "../../support/mic-process.ts";

export interface NodeWorldInfo {
  node: string;
  /** The node's scale set (what managed mode's 403 tells the user to assign identities to). */
  scaleSet: string;
  /** Environment NMI needs to reach this world (KUBECONFIG and friends). */
  env: Record<string, string>;
  identities: Record<string, { clientId: string; principalId: string; resourceId: string }>;
  /** The MIC process, so the test can kill it by pid should this process die first. */
  micPid: number | null;
}

/** One request that reached the IMDS emulator: who sent it (source address as seen on the node) and what. */
export interface ImdsHit {
  source: string;
  path: string;
  clientId: string | null;
  resource: string | null;
}

export const IDENTITY_NAMES = ["app-identity", "other-identity"] as const;
export const SCALE_SET = "aks-e2epool-12345678-vmss";

export const NodeWorldInfoSchema = v.object({
  node: v.string(),
  scaleSet: v.string(),
  env: v.record(v.string(), v.string()),
  identities: v.record(v.string(), v.object({ clientId: v.string(), principalId: v.string(), resourceId: v.string() })),
  micPid: v.nullable(v.number()),
});

/** What the API server holds for a DaemonSet after a delete: gone, or still there being deleted. */
export const DaemonSetStateSchema = v.object({ present: v.boolean(), deletionTimestamp: v.nullable(v.string()) });
export type DaemonSetState = v.InferOutput<typeof DaemonSetStateSchema>;

export const ImdsHitsSchema = v.array(
  v.object({
    source: v.string(),
    path: v.string(),
    clientId: v.nullable(v.string()),
    resource: v.nullable(v.string()),
  }),
);

const Command = v.variant("op", [
  v.object({
    id: v.number(),
    op: v.literal("bind"),
    namespace: v.string(),
    identity: v.string(),
    selector: v.string(),
  }),
  v.object({
    id: v.number(),
    op: v.literal("pod"),
    name: v.string(),
    namespace: v.string(),
    ip: v.string(),
    binding: v.optional(v.string()),
    labels: v.optional(v.record(v.string(), v.string())),
  }),
  v.object({
    id: v.number(),
    op: v.literal("exception"),
    name: v.string(),
    namespace: v.string(),
    podLabels: v.record(v.string(), v.string()),
  }),
  v.object({ id: v.number(), op: v.literal("waitAssigned"), pod: v.string(), namespace: v.string() }),
  v.object({ id: v.number(), op: v.literal("assignToScaleSet"), identity: v.string() }),
  v.object({ id: v.number(), op: v.literal("scaleSetIdentities") }),
  v.object({ id: v.number(), op: v.literal("imdsHits") }),
  v.object({ id: v.number(), op: v.literal("micLogs") }),
  // NMI's own DaemonSet (stored, not run), optionally held by a finalizer so a delete leaves it in place
  // with a deletionTimestamp, as during `helm uninstall` while the garbage collector works.
  v.object({
    id: v.number(),
    op: v.literal("daemonSet"),
    name: v.string(),
    namespace: v.string(),
    finalizer: v.optional(v.string()),
  }),
  // A pod on the node owned by a DaemonSet (ownerReferences kind DaemonSet): NMI's own pod (hostNetwork,
  // so its ip is one of the node's).
  v.object({
    id: v.number(),
    op: v.literal("ownedPod"),
    name: v.string(),
    namespace: v.string(),
    ip: v.string(),
    daemonSet: v.string(),
  }),
  // Deletes a DaemonSet; answers what is left of it (DaemonSetState).
  v.object({ id: v.number(), op: v.literal("deleteDaemonSet"), name: v.string(), namespace: v.string() }),
]);
export type NodeWorldCommand = v.InferOutput<typeof Command>;

const SpecPod = v.object({ spec: v.object({ pod: v.string() }), status: v.object({ status: v.string() }) });

async function main(): Promise<void> {
  const binary = process.argv[2];
  if (!binary) throw new Error("usage: node-world.ts <pod-identity binary> [--no-mic]");
  const withMic = !process.argv.includes("--no-mic");
  const world = await startWorld({ scaleSets: [{ name: SCALE_SET, nodes: 1 }], identities: [...IDENTITY_NAMES] });
  const node = world.nodes[0]?.name ?? "";
  const imds = await world.startImdsFor(node);

  // The front records each request's source before passing it on, so a test can tell a pod's direct
  // request (source = pod IP) from NMI's own (a local source).
  const hits: ImdsHit[] = [];
  const front = Bun.serve({
    hostname: "169.254.169.254",
    port: 80,
    async fetch(request, server) {
      const url = new URL(request.url);
      hits.push({
        source: server.requestIP(request)?.address ?? "",
        path: url.pathname,
        clientId: url.searchParams.get("client_id"),
        resource: url.searchParams.get("resource"),
      });
      const upstream = await fetch(`${imds.url}${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
      });
      return new Response(await upstream.arrayBuffer(), { status: upstream.status, headers: upstream.headers });
    },
  });

  const mic = withMic ? await startMic(world, binary, { instance: `mic-${process.pid}`, leaseDuration: "3s" }) : null;
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    mic?.process.kill("SIGKILL");
    front.stop(true);
    await world.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());

  const info: NodeWorldInfo = {
    node,
    scaleSet: SCALE_SET,
    env: world.processEnv,
    identities: Object.fromEntries(IDENTITY_NAMES.map((name) => [name, world.identity(name)])),
    micPid: mic?.process.pid ?? null,
  };
  console.log(`READY ${JSON.stringify(info)}`);

  const isAssigned = (namespace: string, pod: string) =>
    world.assignedIdentities(namespace).some((record) => {
      const parsed = v.safeParse(SpecPod, record);
      return parsed.success && parsed.output.spec.pod === pod && parsed.output.status.status === "Assigned";
    });

  const ensureNamespace = (name: string) => {
    if (!world.kube.get("v1", "Namespace", undefined, name)) {
      world.kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    }
  };

  async function handle(command: NodeWorldCommand): Promise<unknown> {
    if ("namespace" in command) ensureNamespace(command.namespace);
    switch (command.op) {
      case "bind":
        world.createAzureIdentity(command.identity, { namespace: command.namespace });
        world.createAzureIdentityBinding(`${command.identity}-binding`, {
          azureIdentity: command.identity,
          selector: command.selector,
          namespace: command.namespace,
        });
        return null;
      case "pod":
        world.createPod(command.name, {
          node,
          ip: command.ip,
          namespace: command.namespace,
          ...(command.binding !== undefined ? { binding: command.binding } : {}),
          ...(command.labels ? { labels: command.labels } : {}),
        });
        return null;
      case "exception":
        world.kube.create({
          apiVersion: API_VERSION,
          kind: "AzurePodIdentityException",
          metadata: { name: command.name, namespace: command.namespace },
          spec: { podLabels: command.podLabels },
        });
        return null;
      case "waitAssigned":
        await world.waitFor(
          () => isAssigned(command.namespace, command.pod),
          15_000,
          `assignment of ${command.namespace}/${command.pod}: ${mic?.logs().slice(-2000) ?? "no MIC"}`,
        );
        return null;
      case "assignToScaleSet": {
        // What a user does by hand (az vmss identity assign): a PATCH through ARM's API.
        const arm = await userArmClient(world);
        await arm.updateIdentities(armTargetOf(world, node), {
          add: [world.identity(command.identity).resourceId],
          remove: [],
        });
        return null;
      }
      case "scaleSetIdentities":
        return world.armIdentitiesOf(node);
      case "imdsHits":
        return hits;
      case "micLogs":
        return mic?.logs() ?? "";
      case "daemonSet": {
        const labels = { app: command.name };
        world.kube.create({
          apiVersion: "apps/v1",
          kind: "DaemonSet",
          metadata: {
            name: command.name,
            namespace: command.namespace,
            ...(command.finalizer ? { finalizers: [command.finalizer] } : {}),
          },
          spec: {
            selector: { matchLabels: labels },
            template: { metadata: { labels }, spec: { containers: [{ name: "nmi", image: "pod-identity" }] } },
          },
        });
        return null;
      }
      case "ownedPod": {
        const owner = world.kube.get("apps/v1", "DaemonSet", command.namespace, command.daemonSet);
        if (!owner) throw new Error(`no DaemonSet ${command.namespace}/${command.daemonSet}`);
        const pod = podObject(command.name, { node, ip: command.ip, namespace: command.namespace });
        pod.metadata.ownerReferences = [
          {
            apiVersion: "apps/v1",
            kind: "DaemonSet",
            name: command.daemonSet,
            uid: owner.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ];
        world.kube.create(pod);
        return null;
      }
      case "deleteDaemonSet": {
        world.kube.remove("apps/v1", "DaemonSet", command.namespace, command.name);
        const left = world.kube.get("apps/v1", "DaemonSet", command.namespace, command.name);
        const state: DaemonSetState = {
          present: left !== undefined,
          deletionTimestamp: left?.metadata.deletionTimestamp ?? null,
        };
        return state;
      }
    }
  }

  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of Bun.stdin.stream()) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        raw = undefined;
      }
      const parsed = v.safeParse(Command, raw);
      if (!parsed.success) {
        console.log(`RESULT ${JSON.stringify({ id: -1, error: `bad command: ${line}` })}`);
        continue;
      }
      const { id } = parsed.output;
      try {
        console.log(`RESULT ${JSON.stringify({ id, value: (await handle(parsed.output)) ?? null })}`);
      } catch (error) {
        console.log(`RESULT ${JSON.stringify({ id, error: error instanceof Error ? error.message : String(error) })}`);
      }
    }
  }
  await shutdown();
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(`node-world: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
}
