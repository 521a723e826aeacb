// The COMPILED pod-identity binary as NMI (standard mode) on a node made of network namespaces, with
// real iptables (root only). The node namespace runs the emulated world, MIC, and an IMDS emulator on
// 169.254.169.254:80 behind a front that records every request's source; pods are namespaces joined to
// the node by veths. Checks, from the pods: a bound pod's unmodified @azure/identity gets a token of its
// own identity; an unbound pod gets 404 and never reaches IMDS; an excepted pod gets its token; /healthz,
// a busybox-style gate and `pod-identity wait` follow NMI's readiness; with NMI stopped (SIGTERM or
// SIGKILL) nothing reaches IMDS and a restarted NMI adopts the rules and serves again; the exact
// aad-metadata chain and one PREROUTING jump are kept, and a flushed or bypassed chain is repaired.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiledBinary } from "../support/compiled-binary.ts";
import type { LineProcess } from "./support/line-process.ts";
import { createNodeTopology, inNetns, type NodeTopology, netnsSkipReason } from "./support/netns-topology.ts";
import { IptablesGate, NMI_PORT, PROBE_PORT, startNmiInNetns } from "./support/nmi-in-netns.ts";
import { NodeWorldClient } from "./support/node-world-client.ts";
import {
  curlFromPod,
  gateTool,
  probeFromPod,
  sdkTokenFromPod,
  startShellGate,
  tokenUrl,
  waitFromPod,
} from "./support/pod-requests.ts";

const skipReason = netnsSkipReason(["curl"]);
if (skipReason) console.warn(`skipping compiled NMI e2e (network namespaces): ${skipReason}`);
else console.info(`compiled NMI e2e: the /healthz shell gate uses ${gateTool().name}`);

const RESOURCE = "https://vault.azure.net";
const SCOPE = `${RESOURCE}/.default`;
const EXCEPTION_LABEL = { "e2e-role": "legacy-agent" };

let topology: NodeTopology | undefined;
let world: NodeWorldClient | undefined;
let nmi: LineProcess | undefined;
let gateProcess: LineProcess | undefined;
let dir = "";
let binary = "";
let gate: IptablesGate;

const pod = (name: string) => {
  if (!topology) throw new Error("no topology");
  return topology.pod(name);
};
const identity = (name: string) => {
  const found = world?.info.identities[name];
  if (!found) throw new Error(`no identity ${name}`);
  return found;
};
const iptablesInNode = (args: string[]) =>
  inNetns(topology?.nodeNetns ?? "", ["iptables", "-w", "5", "-t", "nat", ...args], { allowFail: true });
const chain = () => iptablesInNode(["-S", "aad-metadata"]);
/** The chain as §5.1 of the behaviour reference lists it (the original's exact rules). */
const EXPECTED_CHAIN = [
  "-N aad-metadata",
  `-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:${NMI_PORT}`,
  "-A aad-metadata -j RETURN",
];
const chainLines = () =>
  chain()
    .stdout.split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
const preroutingJumps = () =>
  iptablesInNode(["-S", "PREROUTING"])
    .stdout.split("\n")
    .filter((line) => line.trim() === "-A PREROUTING -j aad-metadata").length;

/** Waits for the reconcile loop to leave exactly the expected chain and one PREROUTING jump. */
async function untilInterceptionRestored(timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (Bun.deepEquals(chainLines(), EXPECTED_CHAIN) && preroutingJumps() === 1) return;
    await Bun.sleep(100);
  }
  expect({ chain: chainLines(), jumps: preroutingJumps() }).toEqual({ chain: EXPECTED_CHAIN, jumps: 1 });
}

function startNmi(): LineProcess {
  if (!world || !topology) throw new Error("world not started");
  return startNmiInNetns({
    nodeNetns: topology.nodeNetns,
    binary,
    world: world.info,
    dir,
    role: "nmi",
    gate,
    // An unbound pod's request waits only about two seconds for an assignment before its 404.
    extraArgs: [
      "--retry-attempts-for-created",
      "1",
      "--retry-attempts-for-assigned",
      "1",
      "--find-identity-retry-interval",
      "1",
    ],
  });
}

/** Polls /healthz from the pod until it answers 200 Active. */
async function untilActive(timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = probeFromPod(pod("app"), PROBE_PORT);
    if (probe.status === 200 && probe.body === "Active") return;
    if (Date.now() > deadline) throw new Error(`NMI not Active (last ${probe.status} ${probe.body}):\n${nmi?.tail()}`);
    await Bun.sleep(100);
  }
}

/** Hits before this index are the control test's, made before NMI ran. */
let hitsBeforeNmi = 0;
/** IMDS requests, since NMI first started, whose source is one of the pods: any such request bypassed NMI. */
async function podSourcedHits() {
  const podIps = new Set(Object.values(topology?.pods ?? {}).map((p) => p.ip));
  return ((await world?.imdsHits()) ?? []).slice(hitsBeforeNmi).filter((hit) => podIps.has(hit.source));
}
async function tokenHitCount(): Promise<number> {
  return ((await world?.imdsHits()) ?? []).filter((hit) => hit.path.includes("/identity/oauth2/token")).length;
}

describe.skipIf(skipReason !== null)("compiled NMI (standard mode) in network namespaces", () => {
  beforeAll(async () => {
    binary = compiledBinary();
    dir = mkdtempSync(join(tmpdir(), "nmi-e2e-"));
    gate = new IptablesGate(dir);
    topology = createNodeTopology("e2s", ["app", "other", "unbound", "excepted"]);
    world = await NodeWorldClient.start(topology.nodeNetns, binary, { mic: true });
    await world.send({ op: "bind", namespace: "default", identity: "app-identity", selector: "app" });
    await world.send({ op: "bind", namespace: "default", identity: "other-identity", selector: "other" });
    await world.send({ op: "pod", name: "app", namespace: "default", ip: pod("app").ip, binding: "app" });
    await world.send({ op: "pod", name: "other", namespace: "default", ip: pod("other").ip, binding: "other" });
    await world.send({ op: "pod", name: "unbound", namespace: "default", ip: pod("unbound").ip });
    await world.send({
      op: "pod",
      name: "excepted",
      namespace: "default",
      ip: pod("excepted").ip,
      labels: EXCEPTION_LABEL,
    });
    await world.send({ op: "exception", name: "legacy-agent", namespace: "default", podLabels: EXCEPTION_LABEL });
    await world.send({ op: "waitAssigned", pod: "app", namespace: "default" });
    await world.send({ op: "waitAssigned", pod: "other", namespace: "default" });
  }, 60_000);

  afterAll(async () => {
    gate?.open();
    await gateProcess?.stop("SIGKILL");
    await nmi?.stop("SIGKILL");
    await world?.stop();
    topology?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("control: before NMI ever ran, a pod's request reaches IMDS directly and the front records the pod's address", async () => {
    const answer = curlFromPod(pod("unbound"), "http://169.254.169.254/metadata/instance?api-version=2021-02-01");
    expect(answer.status).toBe(200);
    const hits = (await world?.imdsHits()) ?? [];
    expect(hits.filter((hit) => hit.source === pod("unbound").ip).map((hit) => hit.path)).toEqual([
      "/metadata/instance",
    ]);
    hitsBeforeNmi = hits.length;
  });

  test("before its rules are in place NMI answers /healthz 503 Not Active: the shell gate keeps looping and `wait` exits 1; once Active both pass", async () => {
    gate.close(); // iptables blocks as if another process held the xtables lock
    nmi = startNmi();
    gateProcess = startShellGate(pod("app"), PROBE_PORT);
    const deadline = Date.now() + 10_000;
    let probe = probeFromPod(pod("app"), PROBE_PORT);
    while (probe.status !== 503 && Date.now() < deadline) {
      await Bun.sleep(100);
      probe = probeFromPod(pod("app"), PROBE_PORT);
    }
    expect(probe).toMatchObject({ status: 503, body: "Not Active" });
    expect(chain().code).not.toBe(0); // no aad-metadata chain yet

    const notYet = waitFromPod(pod("app"), binary, ["--timeout", "2s", "--interval", "200ms"]);
    expect(notYet.code).toBe(1);
    expect(notYet.output).toContain("Not Active");

    // The gate keeps looping while NMI stays Not Active: a second failed attempt, and no pass.
    const sinceNotActive = gateProcess.lines.length;
    await gateProcess.waitFor(/^tick$/, 5000, sinceNotActive);
    expect(gateProcess.exited).toBe(false);
    expect(gateProcess.lines).not.toContain("GATE PASSED");
    expect(probeFromPod(pod("app"), PROBE_PORT)).toMatchObject({ status: 503, body: "Not Active" });

    gate.open();
    await gateProcess.waitFor(/^GATE PASSED$/, 10_000);
    expect(await gateProcess.child.exited).toBe(0);
    expect(gateProcess.lines.join("\n")).toContain("Active");
    expect(probeFromPod(pod("app"), PROBE_PORT)).toMatchObject({ status: 200, body: "Active" });
    expect(chainLines()).toEqual(EXPECTED_CHAIN);
    expect(preroutingJumps()).toBe(1);
    expect(
      inNetns(topology?.nodeNetns ?? "", ["cat", "/proc/sys/net/ipv4/conf/all/route_localnet"]).stdout.trim(),
    ).toBe("1");
    const ready = waitFromPod(pod("app"), binary, ["--timeout", "5s", "--interval", "200ms"]);
    expect(ready.code).toBe(0);
  }, 30_000);

  test("a bound pod's unmodified ManagedIdentityCredential gets a token of its own identity, through NMI", async () => {
    const app = sdkTokenFromPod(pod("app"), SCOPE);
    if (!app.ok) throw new Error(`${app.error}\n${nmi?.tail()}`);
    expect(app.claims.appid).toBe(identity("app-identity").clientId);
    expect(app.claims.xms_mirid).toBe(identity("app-identity").resourceId);
    const other = sdkTokenFromPod(pod("other"), SCOPE);
    if (!other.ok) throw new Error(other.error);
    expect(other.claims.appid).toBe(identity("other-identity").clientId);
    expect(other.claims.xms_mirid).toBe(identity("other-identity").resourceId);
    expect(await podSourcedHits()).toEqual([]);
  }, 20_000);

  test("an unbound pod gets 404 and its request never reaches IMDS", async () => {
    const tokensBefore = await tokenHitCount();
    const answer = curlFromPod(pod("unbound"), tokenUrl(RESOURCE), { Metadata: "true" }, 10);
    expect(answer.status).toBe(404);
    expect(await tokenHitCount()).toBe(tokensBefore);
    expect(await podSourcedHits()).toEqual([]);
  }, 20_000);

  test("an excepted pod (AzurePodIdentityException on its labels) gets its token, fetched by NMI from the node", async () => {
    // The excepted pod has no binding: without the exception NMI would answer 404.
    const appIdentity = identity("app-identity");
    const storage = "https://storage.azure.com";
    const excepted = sdkTokenFromPod(pod("excepted"), `${storage}/.default`, appIdentity.clientId);
    if (!excepted.ok) throw new Error(`${excepted.error}\n${nmi?.tail()}`);
    expect(excepted.claims.appid).toBe(appIdentity.clientId);
    expect(excepted.claims.aud).toBe(storage);
    const hits = (await world?.imdsHits()) ?? [];
    const fetched = hits.filter((hit) => hit.clientId === appIdentity.clientId && hit.resource === storage);
    expect(fetched.length).toBeGreaterThan(0);
    expect(await podSourcedHits()).toEqual([]);
  }, 20_000);

  test("`pod-identity wait --token` exits 0 for the pod's own identity and 4 for another", () => {
    const own = waitFromPod(pod("app"), binary, [
      "--timeout",
      "10s",
      "--token",
      "--resource",
      RESOURCE,
      "--expect-client-id",
      identity("app-identity").clientId,
    ]);
    expect({ code: own.code, output: own.output }).toMatchObject({ code: 0 });
    expect(own.output).toContain(`client id ${identity("app-identity").clientId}`);
    const wrong = waitFromPod(pod("app"), binary, [
      "--timeout",
      "10s",
      "--token",
      "--resource",
      RESOURCE,
      "--expect-client-id",
      identity("other-identity").clientId,
    ]);
    expect(wrong.code).toBe(4);
    expect(wrong.output).toContain("names another identity");
    expect(wrong.output).toContain(identity("app-identity").clientId);
  }, 30_000);

  test("a flushed aad-metadata chain is restored by the reconcile loop and pods are intercepted again", async () => {
    iptablesInNode(["-F", "aad-metadata"]);
    expect(chainLines()).toEqual(["-N aad-metadata"]);
    await untilInterceptionRestored();
    const answer = sdkTokenFromPod(pod("app"), SCOPE);
    if (!answer.ok) throw new Error(answer.error);
    expect(answer.claims.appid).toBe(identity("app-identity").clientId);
    expect(await podSourcedHits()).toEqual([]);
  }, 20_000);

  test("a bypass inserted at the top of the chain and a deleted PREROUTING jump are both repaired", async () => {
    iptablesInNode(["-I", "aad-metadata", "1", "-j", "RETURN"]);
    iptablesInNode(["-D", "PREROUTING", "-j", "aad-metadata"]);
    expect(preroutingJumps()).toBe(0);
    await untilInterceptionRestored();
    expect(curlFromPod(pod("unbound"), tokenUrl(RESOURCE), { Metadata: "true" }, 10).status).toBe(404);
    expect(await podSourcedHits()).toEqual([]);
  }, 20_000);

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    test(`with NMI stopped by ${signal} no pod request reaches IMDS and \`wait\` fails; a restarted NMI serves tokens again`, async () => {
      const tokensBefore = await tokenHitCount();
      const code = await nmi?.stop(signal);
      if (signal === "SIGTERM") {
        expect(code).toBe(0);
        expect(nmi?.tail()).toContain("keeping the iptables rules");
      }
      // The rules stay: pod traffic is DNATed to a port nobody listens on (fail closed).
      expect(chainLines()).toEqual(EXPECTED_CHAIN);
      for (const name of ["app", "unbound"]) {
        const answer = curlFromPod(pod(name), tokenUrl(RESOURCE));
        expect({ pod: name, exit: answer.exit, status: answer.status }).toEqual({ pod: name, exit: 7, status: 0 });
      }
      expect(curlFromPod(pod("app"), "http://169.254.169.254/metadata/instance?api-version=2021-02-01").exit).toBe(7);
      const down = waitFromPod(pod("app"), binary, ["--timeout", "1s", "--interval", "200ms"]);
      expect(down.code).toBe(1);
      expect(await tokenHitCount()).toBe(tokensBefore);
      expect(await podSourcedHits()).toEqual([]);

      nmi = startNmi();
      await untilActive();
      const again = sdkTokenFromPod(pod("app"), SCOPE);
      if (!again.ok) throw new Error(`${again.error}\n${nmi.tail()}`);
      expect(again.claims.appid).toBe(identity("app-identity").clientId);
      // The restarted NMI adopted the rules: no second jump, no duplicate rule.
      expect(chainLines()).toEqual(EXPECTED_CHAIN);
      expect(preroutingJumps()).toBe(1);
      expect(await podSourcedHits()).toEqual([]);
    }, 30_000);
  }
});
