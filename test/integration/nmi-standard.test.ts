// NMI (standard mode) as users run it: the compiled binary against the emulated world, with MIC also
// running as the binary and assigning identities in ARM. Pods are loopback source addresses. NMI runs
// unprivileged (see nmi-harness.ts), so its interception stays Not Active; the token server, probe
// and metrics are what is checked here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeClaims } from "../../emulators/common/jwt.ts";
import type { ImdsEmulator } from "../../emulators/imds/index.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { type MicProcess, startMic } from "../support/mic-process.ts";
import { getFrom, type NmiProcess, SHORT_ASSIGNMENT_WAIT, startNmi, tokenPath } from "./nmi-harness.ts";

const RESOURCE = "https://vault.azure.net";
let world: World;
let imds: ImdsEmulator;
let mic: MicProcess;
let nmi: NmiProcess;
let node: string;
let healthBeforeStart: { status: number; body: string } | undefined;

const tokenRequestsToImds = () => imds.requests().filter((r) => r.path.includes("/oauth2/token")).length;

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({ identities: ["id-a", "id-b", "id-late"] });
  node = world.nodes[0]!.name;
  imds = await world.startImdsFor(node);
  mic = await startMic(world, binary, { instance: "mic-nmi-test" });
  world.createAzureIdentity("id-a");
  world.createAzureIdentityBinding("bind-a", { azureIdentity: "id-a", selector: "sel-a" });
  world.createAzureIdentity("id-b");
  world.createAzureIdentityBinding("bind-b", { azureIdentity: "id-b", selector: "sel-b" });
  world.createPod("pod-a", { node, ip: "127.0.0.11", binding: "sel-a" });
  world.createPod("pod-unbound", { node, ip: "127.0.0.12" });
  world.createPod("sdk-pod", { node, ip: "127.0.0.1", binding: "sel-b" });
  nmi = await startNmi(world, binary, {
    node,
    imdsUrl: imds.url,
    extraArgs: [...SHORT_ASSIGNMENT_WAIT],
  });
  await nmi.waitForLog("NMI serving");
  healthBeforeStart = await fetch(`http://127.0.0.1:${nmi.probePort}/healthz`).then(async (r) => ({
    status: r.status,
    body: await r.text(),
  }));
  await nmi.waitForLog("informer caches synced");
}, 30_000);

afterAll(async () => {
  await nmi?.stop();
  await mic?.stop();
  await world?.stop();
});

describe("NMI standard mode, compiled binary", () => {
  test("a bound pod gets a token for its own identity, from IMDS", async () => {
    const answer = await getFrom("127.0.0.11", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(200);
    const body = answer.json();
    const claims = decodeClaims(String(body.access_token));
    expect(claims.appid).toBe(world.identity("id-a").clientId);
    expect(claims.xms_mirid).toBe(world.identity("id-a").resourceId);
    expect(claims.aud).toBe(RESOURCE);
    expect(body.resource).toBe(RESOURCE);
  }, 20_000);

  test("a second request is served from NMI's cache: IMDS sees no new token request", async () => {
    await getFrom("127.0.0.11", nmi.port, tokenPath(RESOURCE));
    const before = tokenRequestsToImds();
    const again = await getFrom("127.0.0.11", nmi.port, tokenPath(RESOURCE));
    expect(again.status).toBe(200);
    expect(tokenRequestsToImds()).toBe(before);
    await nmi.waitForLog('"cache":"hit"');
  }, 20_000);

  test("an unbound pod is refused with 404 and no token request reaches IMDS", async () => {
    const before = tokenRequestsToImds();
    const answer = await getFrom("127.0.0.12", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(404);
    expect(String(answer.json().error_description)).toContain("pod-unbound");
    expect(tokenRequestsToImds()).toBe(before);
  }, 20_000);

  test("one structured log line per token request names pod, namespace, status and cache use", async () => {
    const tokenLines = () =>
      nmi
        .logs()
        .split("\n")
        .filter((line) => line.includes("token request"))
        .map((line) => {
          try {
            return JSON.parse(line) as Record<string, unknown>;
          } catch {
            return undefined;
          }
        })
        .filter((line): line is Record<string, unknown> => line !== undefined && line.pod !== undefined);
    // Log lines are written after the answer (batched, at most 20 ms later); give the last one a moment
    // to arrive.
    const deadline = Date.now() + 3000;
    while (!tokenLines().some((line) => line.pod === "pod-unbound") && Date.now() < deadline) await Bun.sleep(20);
    const lines = tokenLines();
    const unbound = lines.find((line) => line.pod === "pod-unbound");
    expect(unbound?.status).toBe(404);
    expect(unbound?.namespace).toBe("default");
    const served = lines.find((line) => line.pod === "pod-a" && line.status === 200);
    expect(served?.resource).toBe(RESOURCE);
    // The client ID is redacted in logs.
    expect(String(served?.identity)).not.toBe(world.identity("id-a").clientId);
    expect(nmi.logs()).not.toContain(world.identity("id-a").clientId);
  });

  test("@azure/identity ManagedIdentityCredential gets its pod's token through NMI", async () => {
    const script = `
      import { ManagedIdentityCredential } from "@azure/identity";
      const token = await new ManagedIdentityCredential().getToken("${RESOURCE}/.default");
      console.log(token.token);
    `;
    const child = Bun.spawn([process.execPath, "-e", script], {
      cwd: `${import.meta.dir}/../..`,
      env: {
        PATH: process.env.PATH ?? "",
        AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${nmi.port}`,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    expect(err).not.toContain("Error");
    expect(code).toBe(0);
    expect(decodeClaims(out.trim()).appid).toBe(world.identity("id-b").clientId);
  }, 20_000);

  test("a request made before MIC assigned the identity is answered once the record is Assigned", async () => {
    world.createAzureIdentity("id-late");
    world.createAzureIdentityBinding("bind-late", { azureIdentity: "id-late", selector: "sel-late" });
    world.createPod("pod-late", { node, ip: "127.0.0.13", binding: "sel-late" });
    const answer = await getFrom("127.0.0.13", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(200);
    expect(decodeClaims(String(answer.json().access_token)).appid).toBe(world.identity("id-late").clientId);
    const record = world.assignedIdentities("default").find((r) => (r.spec as { pod?: string })?.pod === "pod-late");
    expect(record?.status?.status).toBe("Assigned");
  }, 20_000);

  test("deleting the binding invalidates: once MIC removes the assignment the pod is refused", async () => {
    expect((await getFrom("127.0.0.11", nmi.port, tokenPath(RESOURCE))).status).toBe(200);
    world.kube.remove("aadpodidentity.k8s.io/v1", "AzureIdentityBinding", "default", "bind-a");
    await world.waitFor(
      () => !world.assignedIdentities("default").some((r) => (r.spec as { pod?: string })?.pod === "pod-a"),
      15_000,
      "MIC to remove pod-a's assignment",
    );
    const before = tokenRequestsToImds();
    const answer = await getFrom("127.0.0.11", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(404);
    expect(tokenRequestsToImds()).toBe(before);
  }, 30_000);

  test("/healthz answers 503 Not Active while the interception is not in place (unprivileged here)", async () => {
    expect(healthBeforeStart?.status).toBe(503);
    expect(healthBeforeStart?.body).toBe("Not Active");
    const now = await fetch(`http://127.0.0.1:${nmi.probePort}/healthz`);
    expect(now.status).toBe(503);
    expect(await now.text()).toBe("Not Active");
    expect((await fetch(`http://127.0.0.1:${nmi.probePort}/debug/pprof/`)).status).toBe(404);
  });

  test("/metrics serves the NMI metrics with this run's requests", async () => {
    const text = await (await fetch(`http://127.0.0.1:${nmi.metricsPort}/metrics`)).text();
    expect(text).toMatch(/aadpodidentity_nmi_requests_total\{route="token",status_code="200"\} [1-9]/);
    expect(text).toMatch(/aadpodidentity_nmi_requests_total\{route="token",status_code="404"\} [1-9]/);
    expect(text).toMatch(/aadpodidentity_nmi_token_cache_requests_total\{result="hit"\} [1-9]/);
    expect(text).toContain("aadpodidentity_nmi_operations_duration_seconds_bucket");
    expect(text).toContain("aadpodidentity_nmi_interception_active 0");
  });

  test("SIGTERM stops NMI with exit code 0", async () => {
    expect(await nmi.stop()).toBe(0);
    expect(nmi.logs()).toContain("keeping the iptables rules");
  }, 15_000);
});
