// `pod-identity wait` (compiled) against a LIVE compiled NMI (managed mode) with real interception
// (root only). The test makes two network namespaces of its own joined by a veth: a node namespace
// where NMI installs its iptables rules and the metadata address 169.254.169.254 lives, and a pod
// namespace whose address is the pod's IP, where `wait` runs with its defaults: its token request goes
// to 169.254.169.254 and crosses NMI's DNAT exactly as an application's would.
//
// The emulated world stays in this process on the host's loopback. The node namespace reaches it
// through Unix sockets (which do not belong to a network namespace): a small forwarder inside the node
// namespace listens where NMI looks for the Kubernetes API (127.0.0.1:<port> from the kubeconfig) and
// for IMDS (169.254.169.254:80), and this process relays each socket to the emulator. The Kubernetes
// relay can be held closed, which keeps NMI's informers from syncing and so its probe Not Active.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ImdsEmulator } from "../../emulators/imds/index.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { until } from "../support/until.ts";

const ID = `wl${process.pid}`;
const NODE_NS = `${ID}n`;
const POD_NS = `${ID}p`;
const NODE_IP = "10.201.0.1";
const POD_IP = "10.201.0.2";
const PROBE_PORT = 8085;
const RESOURCE = "https://vault.azure.net";

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, iptables)";
  for (const tool of ["ip", "iptables"]) if (!Bun.which(tool)) return `needs ${tool}`;
  return Bun.spawnSync(["ip", "netns", "list"]).exitCode === 0 ? null : "needs ip netns";
}
const skip = skipReason();
if (skip) console.warn(`skipping wait against a live NMI: ${skip}`);

function sh(argv: string[], allowFail = false): string {
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0 && !allowFail) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}
const inNs = (ns: string, argv: string[]) => sh(["ip", "netns", "exec", ns, ...argv]);

/** Relays connections on a Unix socket to a TCP address, each one only once `gate` has resolved. */
function relay(path: string, target: { host: string; port: number }, gate: () => Promise<void>): Server {
  const server = createServer((client) => {
    client.pause();
    void gate().then(() => {
      const upstream = createConnection(target.port, target.host);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      for (const socket of [client, upstream]) socket.on("error", close).on("close", close);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  server.listen(path);
  return server;
}

/** Runs inside the node namespace: each TCP listener forwards to its Unix socket. */
const FORWARDER = `
import { createConnection, createServer } from "node:net";
import { until } from "../support/until.ts";
const routes = JSON.parse(process.env.FORWARD_ROUTES);
let listening = 0;
for (const route of routes) {
  createServer((client) => {
    const upstream = createConnection({ path: route.path });
    const close = () => { client.destroy(); upstream.destroy(); };
    for (const socket of [client, upstream]) socket.on("error", close).on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
  }).listen(route.port, route.host, () => {
    if (++listening === routes.length) console.log("FORWARDER READY");
  });
}
`;

interface Child {
  process: Bun.Subprocess<"ignore", "pipe", "pipe">;
  output(): string;
  waitFor(text: string, timeoutMs?: number): Promise<void>;
}

function spawnCollecting(argv: string[], env: Record<string, string>): Child {
  const child = Bun.spawn(argv, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  void collect(child.stdout);
  void collect(child.stderr);
  return {
    process: child,
    output: () => output,
    async waitFor(text, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes(text)) {
        if (child.exitCode !== null)
          throw new Error(`${argv[4]} exited ${child.exitCode} before "${text}":\n${output}`);
        if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms:\n${output}`);
        await Bun.sleep(20);
      }
    },
  };
}

let binary = "";
let world: World;
let imds: ImdsEmulator;
let socketDir = "";
let relays: Server[] = [];
let forwarder: Child | undefined;
let nmi: Child | undefined;
let openKube: () => void = () => {};
let kubeOpen: Promise<void> = Promise.resolve();

/** `pod-identity wait` from the pod namespace, with the metadata URL left at its default. */
function startWait(args: string[]) {
  const child = Bun.spawn(
    [
      "ip",
      "netns",
      "exec",
      POD_NS,
      binary,
      "wait",
      "--nmi-host",
      NODE_IP,
      "--nmi-probe-port",
      String(PROBE_PORT),
      "--interval",
      "100ms",
      ...args,
    ],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const result = Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]).then(
    ([code, stdout, stderr]) => ({ code, stdout, stderr }),
  );
  return { child, result };
}
const runWait = (args: string[]) => startWait(args).result;

describe.skipIf(skip !== null)("pod-identity wait against a live NMI (network namespaces, real iptables)", () => {
  beforeAll(async () => {
    binary = compiledBinary();
    world = await startWorld({ identities: ["app-identity", "other-identity"] });
    const node = world.nodes[0]!;
    world.arm.addVmss(node.computeResourceId, {
      userAssigned: [world.identity("app-identity").resourceId, world.identity("other-identity").resourceId],
    });
    imds = await world.startImdsFor(node.name);
    world.createAzureIdentity("app-identity");
    world.createAzureIdentity("other-identity");
    world.createAzureIdentityBinding("app-binding", { azureIdentity: "app-identity", selector: "app" });
    world.createPod("wait-pod", { node: node.name, ip: POD_IP, binding: "app" });

    sh(["ip", "netns", "add", NODE_NS]);
    sh(["ip", "netns", "add", POD_NS]);
    sh(["ip", "link", "add", `${ID}v`, "type", "veth", "peer", "name", `${ID}w`]);
    sh(["ip", "link", "set", `${ID}v`, "netns", NODE_NS]);
    sh(["ip", "link", "set", `${ID}w`, "netns", POD_NS]);
    inNs(NODE_NS, ["ip", "addr", "add", `${NODE_IP}/24`, "dev", `${ID}v`]);
    inNs(NODE_NS, ["ip", "link", "set", `${ID}v`, "up"]);
    inNs(NODE_NS, ["ip", "link", "set", "lo", "up"]);
    inNs(NODE_NS, ["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"]);
    inNs(POD_NS, ["ip", "addr", "add", `${POD_IP}/24`, "dev", `${ID}w`]);
    inNs(POD_NS, ["ip", "link", "set", `${ID}w`, "up"]);
    inNs(POD_NS, ["ip", "link", "set", "lo", "up"]);
    inNs(POD_NS, ["ip", "route", "add", "default", "via", NODE_IP]);

    socketDir = mkdtempSync(join(tmpdir(), "wait-live-nmi-"));
    kubeOpen = new Promise<void>((resolve) => {
      openKube = resolve;
    });
    const kube = new URL(world.kube.url);
    const imdsUrl = new URL(imds.url);
    const kubeSocket = join(socketDir, "kube.sock");
    const imdsSocket = join(socketDir, "imds.sock");
    relays = [
      relay(kubeSocket, { host: kube.hostname, port: Number(kube.port) }, () => kubeOpen),
      relay(imdsSocket, { host: imdsUrl.hostname, port: Number(imdsUrl.port) }, () => Promise.resolve()),
    ];
    forwarder = spawnCollecting(["ip", "netns", "exec", NODE_NS, process.execPath, "-e", FORWARDER], {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      FORWARD_ROUTES: JSON.stringify([
        { host: kube.hostname, port: Number(kube.port), path: kubeSocket },
        { host: "169.254.169.254", port: 80, path: imdsSocket },
      ]),
    });
    await forwarder.waitFor("FORWARDER READY");
  }, 30_000);

  afterAll(async () => {
    openKube();
    for (const child of [nmi, forwarder]) {
      if (child && child.process.exitCode === null) {
        child.process.kill("SIGKILL");
        await child.process.exited;
      }
    }
    for (const server of relays) server.close();
    sh(["ip", "netns", "del", NODE_NS], true);
    sh(["ip", "netns", "del", POD_NS], true);
    if (socketDir) rmSync(socketDir, { recursive: true, force: true });
    await world?.stop();
  });

  test("exits 1 while no NMI is running on the node", async () => {
    const result = await runWait(["--timeout", "500ms"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(`NMI not Active at http://${NODE_IP}:${PROBE_PORT}/healthz`);
    expect(result.stderr).toContain("connection failed");
  }, 10_000);

  test("exits 1 while NMI runs but is Not Active (its informers cannot sync yet)", async () => {
    const kubeletConfig = join(socketDir, "kubelet");
    writeFileSync(kubeletConfig, "KUBELET_FLAGS=--network-plugin=cni\n");
    chmodSync(kubeletConfig, 0o644);
    nmi = spawnCollecting(
      [
        "ip",
        "netns",
        "exec",
        NODE_NS,
        binary,
        "--role",
        "managed",
        "--node",
        world.nodes[0]!.name,
        "--nmi-listen-address",
        NODE_IP,
        "--http-probe-port",
        String(PROBE_PORT),
        "--kubelet-config",
        kubeletConfig,
        "--log-format",
        "json",
      ],
      { PATH: process.env.PATH ?? "/usr/bin:/bin", KUBECONFIG: world.kubeconfigPath },
    );
    await nmi.waitFor("NMI serving");
    const result = await runWait(["--timeout", "600ms"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("(last: HTTP 503 Not Active)");
    // NMI itself put its interception in place in the node namespace.
    expect(inNs(NODE_NS, ["iptables", "-t", "nat", "-S", "aad-metadata"])).toContain(
      `--to-destination ${NODE_IP}:2579`,
    );
  }, 20_000);

  test("a wait started while NMI is Not Active exits 0 once NMI becomes Active", async () => {
    const waiting = startWait(["--timeout", "15s"]);
    // Still waiting (NMI's caches cannot sync while the API is held back).
    await Bun.sleep(400);
    expect(waiting.child.exitCode).toBeNull();
    openKube();
    const result = await waiting.result;
    expect(result).toEqual({ code: 0, stdout: "Active\n", stderr: "" });
    await nmi?.waitFor("informer caches synced");
  }, 20_000);

  test("--token for the pod's own identity: the request crosses NMI's DNAT from the pod IP and exits 0", async () => {
    const clientId = world.identity("app-identity").clientId;
    const imdsBefore = imds.requests().filter((r) => r.path.includes("/oauth2/token")).length;
    const result = await runWait([
      "--timeout",
      "10s",
      "--token",
      "--resource",
      RESOURCE,
      "--expect-client-id",
      clientId,
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toStartWith(`Active\ntoken for ${RESOURCE}: client id ${clientId}`);
    // NMI found the caller by its pod IP and fetched the token from IMDS for it (its log lines are
    // written in batches, a few milliseconds after the answer).
    const servedLine = () =>
      (nmi?.output() ?? "")
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line.pod === "wait-pod" && line.status === 200);
    await until("NMI's log line for the pod's token request", () => servedLine() !== undefined, 2000);
    expect(servedLine()?.namespace).toBe("default");
    expect(imds.requests().filter((r) => r.path.includes("/oauth2/token")).length).toBeGreaterThan(imdsBefore);
  }, 20_000);

  test("--token expecting another identity's client id exits 4", async () => {
    const other = world.identity("other-identity").clientId;
    const result = await runWait(["--timeout", "10s", "--token", "--resource", RESOURCE, "--expect-client-id", other]);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe("Active\n");
    expect(result.stderr).toContain(other);
  }, 20_000);
});
