import { writeFileSync } from "node:fs";
import { join } from "node:path";
// `npm run demo`: pod-identity end to end on this machine. Starts the emulated world (Kubernetes API
// server, ARM, AAD, IMDS), two MIC replicas and one NMI from the compiled binary, creates an
// AzureIdentity, a binding and two pods, and shows the assignment going through (Created → ARM →
// Assigned), the bound pod's token and the other pod refused. --keep leaves it all running.
import { parseArgs } from "node:util";
import { decodeClaims } from "../emulators/common/jwt.ts";
import { freePort } from "../emulators/world/free-port.ts";
import { startWorld, type World } from "../emulators/world.ts";
import { binaryPath, ensureBinary } from "./demo/binary.ts";
import { type PodResponse, requestFromPod } from "./demo/pod-request.ts";
import { insidePrivateNetwork, nsenterPrefix, runInPrivateNetwork } from "./demo/private-network.ts";
import { type Child, Children } from "./demo/processes.ts";
import { claimLines, compactBody, detail, line } from "./demo/report.ts";

const SCALE_SET = "aks-nodepool1-12345678-vmss";
const NODE = `${SCALE_SET}000000`;
const IDENTITY = "demo-identity";
const SELECTOR = "demo-app";
const LABELLED = { name: "demo-app", ip: "127.0.0.11" };
const UNLABELLED = { name: "other-app", ip: "127.0.0.12" };
const MIC_NAMESPACE = "kube-system";
const LEASE = "aad-pod-identity-mic";
const RESOURCE = "https://management.azure.com/";
const TOKEN_PATH = `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(RESOURCE)}`;

const started = performance.now();
const since = () => performance.now() - started;
const say = (topic: string, text: string) => console.log(line(since(), topic, text));

class DemoError extends Error {}

function rolesMissing(children: Children): string[] {
  const missing = children
    .exited()
    .map((child) => /role (\w+) is not part of this build yet/.exec(child.tail(5))?.[1])
    .filter((role): role is string => role !== undefined);
  return [...new Set(missing)];
}

/** Fails with the child's log when one of the children died. */
async function checkChildren(children: Children): Promise<void> {
  if (rolesMissing(children).length > 0) {
    // The other role's process may be about to say the same: give it a moment, then name them all.
    await Bun.sleep(300);
    const roles = rolesMissing(children).map((role) => role.toUpperCase());
    throw new DemoError(
      `${roles.join(" and ")} ${roles.length > 1 ? "roles are" : "role is"} not part of this build yet (src/roles/registry.ts has no entry); the demo needs both MIC and NMI`,
    );
  }
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

function childEnv(world: World, extra: Record<string, string>): Record<string, string | undefined> {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...world.processEnv, ...extra };
}

async function startMic(world: World, children: Children, replica: number): Promise<Child> {
  const name = `mic-${replica}`;
  return children.start(
    name,
    [
      binaryPath,
      "--role",
      "mic",
      "--kubeconfig",
      world.kubeconfigPath,
      "--cloudconfig",
      world.azureJsonPath,
      "--leader-election-instance",
      name,
      "--http-probe-port",
      String(await freePort()),
      "--prometheus-port",
      String(await freePort()),
    ],
    childEnv(world, { MIC_POD_NAMESPACE: MIC_NAMESPACE }),
  );
}

async function startNmi(world: World, children: Children, imdsUrl: string) {
  const imds = new URL(imdsUrl);
  const nmiPort = await freePort();
  const probePort = await freePort();
  // NMI refuses to start without the kubelet's flags file (the kubenet check): give it an Azure CNI node's.
  const kubeletConfig = join(world.dir, "kubelet");
  writeFileSync(kubeletConfig, "KUBELET_FLAGS=--network-plugin=cni\n");
  children.start(
    "nmi",
    [
      binaryPath,
      "--role",
      "nmi",
      "--node",
      NODE,
      "--metadata-ip",
      imds.hostname,
      "--metadata-port",
      imds.port,
      "--nmi-listen-address",
      "127.0.0.1",
      "--nmi-port",
      String(nmiPort),
      "--http-probe-port",
      String(probePort),
      "--prometheus-port",
      String(await freePort()),
      "--MICNamespace",
      MIC_NAMESPACE,
      "--kubelet-config",
      kubeletConfig,
      // A pod nothing is bound to is refused after 1 s instead of the default 16 × 5 s.
      "--retry-attempts-for-created",
      "1",
      "--retry-attempts-for-assigned",
      "1",
      "--find-identity-retry-interval",
      "1",
    ],
    childEnv(world, { NODE_NAME: NODE }),
  );
  return { nmi: { host: "127.0.0.1", port: nmiPort }, healthz: `http://127.0.0.1:${probePort}/healthz` };
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

function showTokenResponse(world: World, response: PodResponse): string {
  if (response.status !== 200) {
    throw new DemoError(`pod ${LABELLED.name} got ${response.status}: ${compactBody(response.body)}`);
  }
  const parsed: unknown = JSON.parse(response.body);
  const token =
    typeof parsed === "object" && parsed !== null && "access_token" in parsed ? String(parsed.access_token) : "";
  const claims = decodeClaims(token);
  const identity = world.identity(IDENTITY);
  const matches = claims.appid === identity.clientId && claims.oid === identity.principalId;
  say("token", `pod ${LABELLED.name} (${LABELLED.ip}) → 200 in ${response.ms.toFixed(0)} ms; claims:`);
  for (const text of claimLines(claims)) console.log(detail(text));
  console.log(
    detail(
      matches
        ? `= ${IDENTITY} (clientId ${identity.clientId}), the identity bound to the pod`
        : `!! not ${IDENTITY}: expected appid ${identity.clientId}`,
    ),
  );
  if (!matches) throw new DemoError("the token names the wrong identity");
  return token;
}

async function runDemo(world: World, children: Children): Promise<void> {
  const imds = await world.startImdsFor(NODE);
  say("world", `Kubernetes API ${world.kube.url}, ARM ${world.arm.url}, AAD ${world.aad.authorityHost}`);
  console.log(detail(`node ${NODE} (scale set ${SCALE_SET}, instance 0), its IMDS ${imds.url}`));

  await startMic(world, children, 0);
  await startMic(world, children, 1);
  const { nmi, healthz } = await startNmi(world, children, imds.url);
  const leader = await until(children, "a MIC leader", 20_000, () => {
    const lease = world.kube.get("coordination.k8s.io/v1", "Lease", "default", LEASE);
    return lease?.spec?.holderIdentity as string | undefined;
  });
  say("MIC", `2 replicas running; ${leader} leads (Lease default/${LEASE})`);
  const health = await until(children, "NMI answering /healthz", 20_000, () => httpText(healthz));
  say("NMI", `node ${NODE}, token server ${nmi.host}:${nmi.port}, /healthz: ${health}`);

  const progress = watchProgress(world);
  world.createAzureIdentity(IDENTITY);
  world.createAzureIdentityBinding(`${IDENTITY}-binding`, { azureIdentity: IDENTITY, selector: SELECTOR });
  world.createPod(LABELLED.name, { node: NODE, ip: LABELLED.ip, binding: SELECTOR });
  world.createPod(UNLABELLED.name, { node: NODE, ip: UNLABELLED.ip });
  say(
    "kubectl",
    `created AzureIdentity ${IDENTITY}, AzureIdentityBinding ${IDENTITY}-binding (selector ${SELECTOR}), pods ${LABELLED.name} (aadpodidbinding=${SELECTOR}, ${LABELLED.ip}) and ${UNLABELLED.name} (${UNLABELLED.ip})`,
  );
  try {
    await until(children, "the AzureAssignedIdentity in state Assigned", 30_000, () =>
      [...assignedStates(world).values()].includes("Assigned"),
    );
    await Bun.sleep(20); // let the watcher print the last transition
  } finally {
    progress.stop();
  }

  const good = await requestFromPod(LABELLED.ip, nmi, TOKEN_PATH);
  showTokenResponse(world, good);
  const refused = await requestFromPod(UNLABELLED.ip, nmi, TOKEN_PATH);
  say("refused", `pod ${UNLABELLED.name} (${UNLABELLED.ip}) → ${refused.status} in ${refused.ms.toFixed(0)} ms`);
  console.log(detail(compactBody(refused.body)));
  if (refused.status === 200) throw new DemoError(`pod ${UNLABELLED.name} was given a token`);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    options: { keep: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log("usage: bun scripts/demo.ts [--keep]   (--keep: leave everything running until Ctrl-C)");
    return 0;
  }
  // Build first, in the machine's own namespaces, then re-run inside private ones.
  const built = await ensureBinary();
  if (built !== undefined && !insidePrivateNetwork()) {
    console.log(`built dist/pod-identity in ${(built / 1000).toFixed(1)} s`);
  }
  const inner = await runInPrivateNetwork(import.meta.path, argv);
  if (inner !== undefined) return inner;
  console.log("pod-identity demo: MIC and NMI from dist/pod-identity against emulated Kubernetes, ARM, AAD and IMDS");
  console.log(
    `  Pods are stood for by loopback source addresses (${LABELLED.ip}, ${UNLABELLED.ip}): requests come from the pod IP`,
  );
  console.log("  and go straight to NMI's port, where on a node iptables would redirect 169.254.169.254:80.");
  console.log(
    insidePrivateNetwork()
      ? "  Everything runs in a private network namespace: NMI's iptables rules never touch this machine's.\n"
      : "  (unshare is not available: running in this machine's network namespace)\n",
  );
  if (built !== undefined) say("build", `built dist/pod-identity in ${(built / 1000).toFixed(1)} s`);

  const world = await startWorld({ scaleSets: [{ name: SCALE_SET, nodes: 2 }], identities: [IDENTITY] });
  const children = new Children(world.dir);
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= children.stopAll().then(() => world.stop());
    return cleaning;
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    await runDemo(world, children);
  } catch (error) {
    await cleanup();
    if (error instanceof DemoError) {
      console.error(`\ndemo failed: ${error.message}`);
      return 1;
    }
    throw error;
  }

  if (values.keep) {
    console.log(`\nstill running (Ctrl-C stops everything). Logs: ${children.all.map((c) => c.logPath).join(", ")}`);
    const enter = insidePrivateNetwork() ? `${nsenterPrefix()} ` : "";
    console.log(`  ${enter}kubectl --kubeconfig ${world.kubeconfigPath} get azureassignedidentities,pods -A`);
    for (const [key, value] of Object.entries(world.processEnv)) console.log(`  export ${key}=${value}`);
    await new Promise(() => {}); // until a signal
  }
  await cleanup();
  say("done", "stopped MIC, NMI and the emulators; removed the temp files");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
