// `npm run emulators`: starts the emulated world (Kubernetes API server, ARM, AAD, one IMDS per node),
// prints how to reach it, and keeps it running until Ctrl-C / SIGTERM, then cleans up.
//   bun emulators/cli.ts [--scale-set NAME=NODES]... [--vm NAME]... [--identity NAME]... [--tls]
//                        [--imds-propagation-delay-ms N] [--arm-latency-ms N]
import { parseArgs } from "node:util";
import * as v from "valibot";
import { freePort } from "./world/free-port.ts";
import { startWorld } from "./world.ts";

const USAGE = `usage: bun emulators/cli.ts [--scale-set NAME=NODES]... [--vm NAME]... [--identity NAME]... [--tls]
                           [--imds-propagation-delay-ms N] [--arm-latency-ms N]
defaults: --scale-set aks-nodepool1-12345678-vmss=2 --identity demo-identity`;

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
  "scale-set": v.optional(v.array(ScaleSet)),
  vm: v.optional(v.array(ResourceName)),
  identity: v.optional(v.array(ResourceName)),
  tls: v.optional(v.boolean(), false),
  "imds-propagation-delay-ms": v.optional(Count, "0"),
  "arm-latency-ms": v.optional(Count, "0"),
  help: v.optional(v.boolean(), false),
});

function parse(argv: string[]): v.InferOutput<typeof Args> {
  const { values } = parseArgs({
    args: argv,
    options: {
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
    throw new Error(parsed.issues.map((i) => `--${v.getDotPath(i) ?? "args"}: ${i.message}`).join("; "));
  }
  return parsed.output;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const vms = args.vm ?? [];
  const world = await startWorld({
    tls: args.tls,
    ...(args["scale-set"] ? { scaleSets: args["scale-set"] } : vms.length > 0 ? { scaleSets: [] } : {}),
    vms,
    identities: args.identity ?? ["demo-identity"],
    imdsPropagationDelayMs: args["imds-propagation-delay-ms"],
    armLatencyMs: args["arm-latency-ms"],
  });
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping the emulated world ...");
    void world.stop().then(() => process.exit(0));
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);

  const imdsByNode = await Promise.all(
    world.nodes.map(async (node) => [node, await world.startImdsFor(node.name)] as const),
  );
  const identityNames = args.identity ?? ["demo-identity"];
  const [probePort, metricsPort] = [await freePort(), await freePort()];
  const lines = [
    "emulated world is up",
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
