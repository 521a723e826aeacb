// `npm run emulators`: starts the emulated world (Kubernetes API server, ARM, AAD, one IMDS per node) or,
// with --only, some of its emulators; prints how to reach them, including the kubeconfig's contents, and
// keeps running until Ctrl-C / SIGINT / SIGTERM, then stops every server, removes its files and exits 0.
import { parseArgs } from "node:util";
import * as v from "valibot";
import { EMULATOR_NAMES, type EmulatorName, type RunningEmulators, startOnly } from "./cli/only.ts";
import { freePort } from "./world/free-port.ts";
import { startWorld, WORLD_DEFAULTS } from "./world.ts";

const USAGE = `usage: bun emulators/cli.ts [--only kube|arm|aad|imds]... [--tls]
                           [--scale-set NAME=NODES]... [--vm NAME]... [--identity NAME]...
                           [--imds-propagation-delay-ms N] [--arm-latency-ms N]

Starts the emulated world: a Kubernetes API server with the chart's CRDs and AKS-shaped nodes, ARM with
the nodes' scale sets / VMs and a catalogue of user-assigned identities, AAD with MIC's service
principal, and one IMDS per node. Prints the endpoints, the kubeconfig (path and contents), azure.json
and the environment a pod-identity process needs; runs until Ctrl-C (SIGINT) or SIGTERM, then stops
everything, removes the files it wrote and exits 0.

  --only NAME   start only this emulator; repeat for several. kube: Kubernetes API server (CRDs and
                nodes); arm: ARM; aad: AAD (https, with the service principal); imds: one IMDS per node
                (brings ARM along, where the identities live). Same names and IDs as the full world.
  --tls         Kubernetes API server and ARM over https with generated CAs (AAD is always https)
  --scale-set   a VMSS and its node count (default ${WORLD_DEFAULTS.scaleSet.name}=${WORLD_DEFAULTS.scaleSet.nodes})
  --vm          an availability-set VM, one node each
  --identity    a user-assigned identity in ARM's catalogue (default demo-identity)
  --imds-propagation-delay-ms  IMDS answers "Identity not found" this long after an assignment
  --arm-latency-ms             how long ARM's identity PATCH operations take`;

const Count = v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number"), v.transform(Number));
const ResourceName = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/, "is not a valid resource name"));
const ScaleSet = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}=\d{1,3}$/, "must be NAME=NODES, e.g. aks-nodepool1-12345678-vmss=2"),
  v.transform((text) => {
    const [name = "", nodes = "0"] = text.split("=");
    return { name, nodes: Number(nodes) };
  }),
);
const Args = v.object({
  only: v.optional(v.array(v.picklist(EMULATOR_NAMES, `must be one of ${EMULATOR_NAMES.join(", ")}`))),
  "scale-set": v.optional(v.array(ScaleSet)),
  vm: v.optional(v.array(ResourceName)),
  identity: v.optional(v.array(ResourceName)),
  tls: v.optional(v.boolean(), false),
  "imds-propagation-delay-ms": v.optional(Count, "0"),
  "arm-latency-ms": v.optional(Count, "0"),
  help: v.optional(v.boolean(), false),
});
type Args = v.InferOutput<typeof Args>;

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: "string", multiple: true },
      "scale-set": { type: "string", multiple: true },
      vm: { type: "string", multiple: true },
      identity: { type: "string", multiple: true },
      tls: { type: "boolean" },
      "imds-propagation-delay-ms": { type: "string" },
      "arm-latency-ms": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  const parsed = v.safeParse(Args, values);
  if (!parsed.success) {
    throw new Error(parsed.issues.map((i) => `--${v.getDotPath(i)?.split(".")[0] ?? "args"}: ${i.message}`).join("; "));
  }
  return parsed.output;
}

/** The kubeconfig as printed: between two marker lines, so scripts can cut it out. */
function kubeconfigBlock(kubeconfig: { path: string; yaml: string } | undefined): string[] {
  if (!kubeconfig) return [];
  return ["", `----- kubeconfig ${kubeconfig.path} -----`, kubeconfig.yaml.trimEnd(), "----- end of kubeconfig -----"];
}

async function startAll(args: Args): Promise<RunningEmulators> {
  const vms = args.vm ?? [];
  const identityNames = args.identity ?? ["demo-identity"];
  const world = await startWorld({
    tls: args.tls,
    ...(args["scale-set"] ? { scaleSets: args["scale-set"] } : vms.length > 0 ? { scaleSets: [] } : {}),
    vms,
    identities: identityNames,
    imdsPropagationDelayMs: args["imds-propagation-delay-ms"],
    armLatencyMs: args["arm-latency-ms"],
  });
  try {
    const imdsByNode = await Promise.all(
      world.nodes.map(async (node) => [node, await world.startImdsFor(node.name)] as const),
    );
    const [probePort, metricsPort] = [await freePort(), await freePort()];
    const lines = [
      `  kubernetes API  ${world.kube.url}`,
      `  ARM             ${world.arm.url}   (subscription ${world.subscriptionId}, resource group ${world.resourceGroup})`,
      `  AAD             ${world.aad.authorityHost}/${world.tenantId}`,
      "  nodes and their IMDS:",
      ...imdsByNode.map(([node, imds]) => `    ${node.name.padEnd(34)} ${imds.url}   ${node.providerID}`),
      "  user-assigned identities:",
      ...identityNames.map((name) => {
        const id = world.identity(name);
        return `    ${name.padEnd(20)} clientId ${id.clientId}  ${id.resourceId}`;
      }),
      "",
      `  kubeconfig      ${world.kubeconfigPath}`,
      `  azure.json      ${world.azureJsonPath}   (MIC --cloudconfig; service principal ${world.servicePrincipal.clientId})`,
      "",
      "environment for pod-identity processes (MIC, NMI):",
      ...Object.entries(world.processEnv).map(([key, value]) => `  export ${key}=${value}`),
      "",
      "try:",
      `  kubectl --kubeconfig ${world.kubeconfigPath} get nodes`,
      `  MIC_POD_NAMESPACE=default dist/pod-identity --role mic --kubeconfig ${world.kubeconfigPath} --cloudconfig ${world.azureJsonPath} --http-probe-port ${probePort} --prometheus-port ${metricsPort}`,
    ];
    return {
      lines,
      kubeconfig: { path: world.kubeconfigPath, yaml: world.kube.kubeconfigYaml },
      stop: () => world.stop(),
    };
  } catch (error) {
    await world.stop();
    throw error;
  }
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const only = new Set<EmulatorName>(args.only ?? []);
  const vms = args.vm ?? [];
  const running =
    only.size === 0
      ? await startAll(args)
      : await startOnly(only, {
          tls: args.tls,
          scaleSets: args["scale-set"] ?? (vms.length > 0 ? [] : [WORLD_DEFAULTS.scaleSet]),
          vms,
          identities: args.identity ?? ["demo-identity"],
          imdsPropagationDelayMs: args["imds-propagation-delay-ms"],
          armLatencyMs: args["arm-latency-ms"],
        });

  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping the emulators ...");
    void running.stop().then(() => process.exit(0));
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);

  const title = only.size === 0 ? "emulated world is up" : `emulators are up (${[...only].join(", ")})`;
  const lines = [
    title,
    ...running.lines,
    ...kubeconfigBlock(running.kubeconfig),
    "",
    "Ctrl-C stops everything and removes the files above.",
  ];
  console.log(lines.join("\n"));
}

main().catch((error: unknown) => {
  console.error(`emulators: ${error instanceof Error ? error.message : String(error)}`);
  console.error(USAGE);
  process.exit(2);
});
