// NMI's interception with real iptables in network namespaces (root only): a node netns runs NMI (the
// real Interceptor + server with in-memory ports) and a fake IMDS on 169.254.169.254:80; a pod netns
// reaches the node through a veth. Checks that pod traffic reaches NMI with the pod's IP, that it never
// reaches IMDS while NMI is down (SIGTERM or SIGKILL), that reconcile restores a flushed chain, and that
// --cleanup removes everything.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const ID = `nmi${process.pid}`;
const NODE = `${ID}n`;
const POD = `${ID}p`;
const POD_IP = "10.200.0.2";

function canRun(): string | null {
  if (process.getuid?.() !== 0) return "needs root";
  for (const tool of ["ip", "iptables", "curl", "conntrack"]) if (!Bun.which(tool)) return `needs ${tool}`;
  const probe = Bun.spawnSync(["ip", "netns", "list"]);
  return probe.exitCode === 0 ? null : "needs ip netns";
}
const skipReason = canRun();
if (skipReason) console.warn(`skipping NMI interception e2e: ${skipReason}`);

function sh(argv: string[], allowFail = false) {
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0 && !allowFail) {
    throw new Error(`${argv.join(" ")} failed: ${result.stderr.toString()}`);
  }
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}
const inNode = (argv: string[], allowFail = false) => sh(["ip", "netns", "exec", NODE, ...argv], allowFail);

/** A child process whose output lines are collected, with a wait for a line matching a pattern. */
class Proc {
  lines: string[] = [];
  readonly child: ReturnType<typeof Bun.spawn>;
  constructor(argv: string[], env: Record<string, string> = {}) {
    this.child = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
    this.#collect(this.child.stdout as ReadableStream<Uint8Array>);
    this.#collect(this.child.stderr as ReadableStream<Uint8Array>);
  }
  async #collect(stream: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      let i = buffer.indexOf("\n");
      while (i >= 0) {
        this.lines.push(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
        i = buffer.indexOf("\n");
      }
    }
  }
  async waitFor(pattern: RegExp, timeoutMs = 8000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const line = this.lines.find((l) => pattern.test(l));
      if (line) return line;
      if (this.child.exitCode !== null && this.child.signalCode === null && !this.lines.some((l) => pattern.test(l))) {
        await Bun.sleep(20);
        const late = this.lines.find((l) => pattern.test(l));
        if (late) return late;
        throw new Error(`process exited ${this.child.exitCode} before ${pattern}: ${this.lines.join("\n")}`);
      }
      await Bun.sleep(20);
    }
    throw new Error(`timed out waiting for ${pattern}: ${this.lines.join("\n")}`);
  }
}

const FAKE_IMDS = `
Bun.serve({ hostname: "169.254.169.254", port: 80, fetch(request, server) {
  console.log("HIT " + server.requestIP(request)?.address + " " + new URL(request.url).pathname);
  return Response.json({ fake: "imds" });
} });
console.log("IMDS READY");
`;

const NMI = `
import { startNodeAgent, cleanupInterception, handleShutdownSignals } from "${ROOT}/src/roles/nmi/node-agent.ts";
import { InMemoryPods, InMemoryAssignments, InMemoryExceptions } from "${ROOT}/src/roles/nmi/in-memory-ports.ts";
import { standardIdentityResolver } from "${ROOT}/src/roles/nmi/identity-resolver.ts";
import { createImdsProxy } from "${ROOT}/src/roles/nmi/imds-proxy.ts";
const options = { listenAddress: "127.0.0.1", port: 2579, probePort: null, metadataIp: "169.254.169.254", metadataPort: 80, iptUpdateIntervalMs: 300, enableConntrackDeletion: true };
if (process.env.NMI_CLEANUP === "1") {
  await cleanupInterception(options);
  console.error("CLEANED");
  process.exit(0);
}
const pods = new InMemoryPods();
pods.upsert({ name: "app", namespace: "ns", uid: "u1", ip: "${POD_IP}", phase: "Running", labels: {}, ownerReferences: [] });
const assignments = new InMemoryAssignments();
const identity = { apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureIdentity", metadata: { name: "id", namespace: "ns" },
  spec: { type: 0, clientID: "client-1234-abcd", resourceID: "", tenantID: "", adEndpoint: "", adResourceID: "" } };
assignments.upsert({ apiVersion: "aadpodidentity.k8s.io/v1", kind: "AzureAssignedIdentity", metadata: { name: "app-ns-id", namespace: "ns" },
  spec: { azureIdentityRef: identity, pod: "app", podNamespace: "ns", nodename: "node" }, status: { status: "Assigned" } });
const token = (clientId, resource) => ({ accessToken: "nmi-token", expiresOnMs: Date.now() + 3600000, notBeforeMs: Date.now(), resource, tokenType: "Bearer", clientId });
const agent = await startNodeAgent(options, {
  config: { metadataHeaderRequired: true, blockInstanceMetadata: false, setRetryAfterHeader: false, micNamespace: "default", maxHeaderBytes: 16384 },
  pods, exceptions: new InMemoryExceptions(),
  resolveIdentity: standardIdentityResolver({ source: assignments, budget: { retryAttemptsForCreated: 1, retryAttemptsForAssigned: 1, findIdentityRetryIntervalMs: 500 }, forceNamespaced: false, holdUntilAssigned: true }),
  tokens: {
    async forIdentity(id, resource) { return { tokens: [token(id.spec.clientID, resource)], source: "upstream" }; },
    async forExceptedPod(clientId, resource) { return { tokens: [token(clientId, resource)], source: "upstream" }; },
  },
  proxy: createImdsProxy({ metadataIp: "169.254.169.254", metadataPort: 80 }),
  logTokenRequest: (line) => console.log("TOKENLOG " + JSON.stringify(line)),
}, Promise.resolve());
while (!agent.readiness.active) await Bun.sleep(20);
console.error("READY");
handleShutdownSignals(agent, async () => false, (code) => {
  console.error("STOPPED " + code);
  process.exit(code);
});
`;

function startNmi(extraEnv: Record<string, string> = {}) {
  return new Proc(["ip", "netns", "exec", NODE, process.execPath, "-e", NMI], extraEnv);
}

/** A token request from the pod netns: status (0 when refused) and body. */
function podRequest(
  path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net",
) {
  const result = sh(
    [
      "ip",
      "netns",
      "exec",
      POD,
      "curl",
      "-s",
      "-m",
      "3",
      "-H",
      "Metadata: true",
      "-w",
      "\n%{http_code}",
      `http://169.254.169.254${path}`,
    ],
    true,
  );
  const lines = result.stdout.split("\n");
  return { curlExit: result.code, status: Number(lines.at(-1)), body: lines.slice(0, -1).join("\n") };
}

const chainListing = () => inNode(["iptables", "-w", "5", "-t", "nat", "-S", "aad-metadata"], true);

let imds: Proc | null = null;
let nmi: Proc | null = null;
let barriers = 0;
/**
 * The pod's requests the fake IMDS has seen so far. A request from the node itself goes first and is
 * waited for: IMDS logs in order, so any earlier pod request has been collected by then.
 */
async function podHits(): Promise<string[]> {
  const marker = `/barrier-${++barriers}`;
  inNode(["curl", "-s", "-m", "3", `http://169.254.169.254${marker}`]);
  await imds!.waitFor(new RegExp(`${marker}$`));
  return imds!.lines.filter((l) => l.startsWith(`HIT ${POD_IP} `));
}

describe.skipIf(skipReason !== null)("NMI interception in network namespaces", () => {
  beforeAll(async () => {
    sh(["ip", "netns", "add", NODE]);
    sh(["ip", "netns", "add", POD]);
    sh(["ip", "link", "add", `${ID}v`, "type", "veth", "peer", "name", `${ID}w`]);
    sh(["ip", "link", "set", `${ID}v`, "netns", NODE]);
    sh(["ip", "link", "set", `${ID}w`, "netns", POD]);
    inNode(["ip", "addr", "add", "10.200.0.1/24", "dev", `${ID}v`]);
    inNode(["ip", "link", "set", `${ID}v`, "up"]);
    inNode(["ip", "link", "set", "lo", "up"]);
    // The node's IMDS address lives only inside the node netns.
    inNode(["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"]);
    sh(["ip", "netns", "exec", POD, "ip", "addr", "add", `${POD_IP}/24`, "dev", `${ID}w`]);
    sh(["ip", "netns", "exec", POD, "ip", "link", "set", `${ID}w`, "up"]);
    sh(["ip", "netns", "exec", POD, "ip", "link", "set", "lo", "up"]);
    sh(["ip", "netns", "exec", POD, "ip", "route", "add", "default", "via", "10.200.0.1"]);
    imds = new Proc(["ip", "netns", "exec", NODE, process.execPath, "-e", FAKE_IMDS]);
    await imds.waitFor(/IMDS READY/);
  });

  afterAll(() => {
    for (const proc of [nmi, imds]) proc?.child.kill("SIGKILL");
    sh(["ip", "netns", "del", NODE], true);
    sh(["ip", "netns", "del", POD], true);
  });

  test("without NMI's rules the pod would reach the fake IMDS (the setup is meaningful)", async () => {
    const response = podRequest("/metadata/instance");
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ fake: "imds" });
    expect(await podHits()).toHaveLength(1);
  });

  test("with NMI running, the pod's token request reaches NMI and is matched by its pod IP", async () => {
    nmi = startNmi();
    await nmi.waitFor(/READY/);
    expect(inNode(["cat", "/proc/sys/net/ipv4/conf/all/route_localnet"]).stdout.trim()).toBe("1");
    const hitsBefore = (await podHits()).length;
    const response = podRequest();
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ access_token: "nmi-token", client_id: "client-1234-abcd" });
    const log = JSON.parse((await nmi.waitFor(/^TOKENLOG /)).slice("TOKENLOG ".length));
    expect(log).toMatchObject({ pod: "app", namespace: "ns", status: 200 });
    expect(await podHits()).toHaveLength(hitsBefore);
  });

  test("after SIGTERM the rules stay and the pod is refused, never reaching IMDS", async () => {
    const hitsBefore = (await podHits()).length;
    nmi!.child.kill("SIGTERM");
    await nmi!.waitFor(/STOPPED 0/);
    await nmi!.child.exited;
    expect(chainListing().stdout).toContain("--to-destination 127.0.0.1:2579");
    const response = podRequest();
    expect(response.status).toBe(0);
    expect(response.curlExit).toBe(7); // connection refused
    expect(await podHits()).toHaveLength(hitsBefore);
  });

  test("a restarted NMI takes the rules over and serves again", async () => {
    nmi = startNmi();
    await nmi.waitFor(/READY/);
    expect(podRequest().status).toBe(200);
  });

  test("after SIGKILL the pod is refused too", async () => {
    const hitsBefore = (await podHits()).length;
    nmi!.child.kill("SIGKILL");
    await nmi!.child.exited;
    const response = podRequest();
    expect(response.curlExit).toBe(7);
    expect(await podHits()).toHaveLength(hitsBefore);
    nmi = startNmi();
    await nmi.waitFor(/READY/);
    expect(podRequest().status).toBe(200);
  });

  test("a flushed chain is restored by the reconcile loop", async () => {
    inNode(["iptables", "-w", "5", "-t", "nat", "-F", "aad-metadata"]);
    expect(chainListing().stdout).not.toContain("DNAT");
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !chainListing().stdout.includes("DNAT")) await Bun.sleep(50);
    expect(chainListing().stdout).toContain("--to-destination 127.0.0.1:2579");
    const hitsBefore = (await podHits()).length;
    expect(podRequest().status).toBe(200);
    expect(await podHits()).toHaveLength(hitsBefore);
  });

  test("other IMDS paths are proxied by NMI, not reached directly", async () => {
    const hitsBefore = (await podHits()).length;
    const response = podRequest("/metadata/instance?api-version=2021-02-01");
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ fake: "imds" });
    // IMDS saw NMI's own (local) connection, not the pod's.
    expect(await podHits()).toHaveLength(hitsBefore);
  });

  test("--cleanup removes the chain and the PREROUTING jump", async () => {
    nmi!.child.kill("SIGKILL");
    await nmi!.child.exited;
    nmi = null;
    const cleanup = startNmi({ NMI_CLEANUP: "1" });
    await cleanup.waitFor(/CLEANED/);
    await cleanup.child.exited;
    expect(chainListing().code).not.toBe(0);
    expect(inNode(["iptables", "-w", "5", "-t", "nat", "-S", "PREROUTING"]).stdout).not.toContain("aad-metadata");
    // Uninstalled: pod traffic is no longer intercepted.
    expect(podRequest("/metadata/instance").status).toBe(200);
    expect((await podHits()).length).toBeGreaterThan(1);
  });
});
