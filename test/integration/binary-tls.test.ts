// The compiled binary against an https Kubernetes API server, with the kubeconfig shapes users have:
// client certificate + CA, bearer token + CA, and insecure-skip-tls-verify without a CA. MIC is the
// probe: "Active" on /healthz means it listed every informer's collection and won the Lease; a pod
// created afterwards getting Assigned means its watches deliver over TLS. A kubeconfig with neither a
// CA nor skip-verify must fail visibly and fast (503 and a certificate error in the log), not hang.
// The kube emulator's CA is in no bundle the process trusts (NODE_EXTRA_CA_CERTS holds only AAD's and
// ARM's), so only the kubeconfig can make the server trusted.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../emulators/world/free-port.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { compiledBinary } from "../support/compiled-binary.ts";

let binary: string;
let world: World;
const running: Bun.Subprocess[] = [];

beforeAll(async () => {
  binary = compiledBinary();
  world = await startWorld({ tls: true, identities: ["tls-cert", "tls-token", "tls-skip"] });
}, 120_000);

afterAll(async () => {
  for (const child of running) child.kill("SIGKILL");
  await Promise.all(running.map((c) => c.exited));
  await world?.stop();
});

const b64 = (text: string) => Buffer.from(text).toString("base64");

/** A kubeconfig for the emulator with the given cluster and user fields. */
function kubeconfig(name: string, cluster: Record<string, string | boolean>, user: Record<string, string>): string {
  const fields = (o: Record<string, string | boolean>) =>
    Object.entries(o)
      .map(([k, v]) => `    ${k}: ${typeof v === "boolean" ? v : JSON.stringify(v)}`)
      .join("\n");
  const path = join(world.dir, `${name}.kubeconfig`);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster:
    server: ${JSON.stringify(world.kube.url)}
${fields(cluster)}
users:
- name: user
  user:
${fields(user)}
contexts:
- name: emulator
  context: {cluster: emulator, user: user}
current-context: emulator
`,
  );
  return path;
}

interface Mic {
  child: Bun.Subprocess<"ignore", "ignore", "pipe">;
  logs(): string;
  health(): Promise<{ status: number; body: string } | undefined>;
}

async function startMic(instance: string, kubeconfigPath: string): Promise<Mic> {
  const healthPort = await freePort();
  const child = Bun.spawn(
    [
      binary,
      "--role",
      "mic",
      "--kubeconfig",
      kubeconfigPath,
      "--cloudconfig",
      world.azureJsonPath,
      "--leader-election-instance",
      instance,
      "--leader-election-namespace",
      "default",
      "--leader-election-duration",
      "4s",
      "--http-probe-port",
      String(healthPort),
      "--prometheus-port",
      String(await freePort()),
      "--update-user-msi-retry-interval",
      "100ms",
    ],
    {
      // No KUBECONFIG: the flag's file is the only Kubernetes configuration.
      env: {
        AZURE_ENVIRONMENT_FILEPATH: world.environmentFilePath,
        NODE_EXTRA_CA_CERTS: world.caBundlePath,
        MIC_POD_NAMESPACE: "default",
        PATH: process.env.PATH ?? "",
      },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  running.push(child);
  let log = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) log += decoder.decode(chunk);
  })();
  return {
    child,
    logs: () => log,
    async health() {
      try {
        const response = await fetch(`http://127.0.0.1:${healthPort}/healthz`, { signal: AbortSignal.timeout(1000) });
        return { status: response.status, body: await response.text() };
      } catch {
        return undefined;
      }
    },
  };
}

const leaseHolder = () =>
  world.kube.get("coordination.k8s.io/v1", "Lease", "default", "aad-pod-identity-mic")?.spec?.holderIdentity;

/** Leads, lists, watches: Active, holds the Lease, and assigns the identity of a pod created afterwards. */
async function provesListWatchAndLease(mic: Mic, instance: string, identity: string, podIp: string): Promise<void> {
  try {
    await world.waitFor(async () => (await mic.health())?.body === "Active", 15_000, `${instance} Active`);
  } catch (error) {
    throw new Error(`${String(error)}\nMIC log:\n${mic.logs()}`);
  }
  expect(leaseHolder()).toBe(instance);
  world.createAzureIdentity(identity);
  world.createAzureIdentityBinding(`${identity}-binding`, { azureIdentity: identity, selector: identity });
  world.createPod(`${identity}-pod`, { node: world.nodes[0]!.name, ip: podIp, binding: identity });
  await world.waitFor(
    () => world.assignedIdentities().find((r) => r.spec?.pod === `${identity}-pod`)?.status?.status === "Assigned",
    15_000,
    `${identity}-pod Assigned`,
  );
  mic.child.kill("SIGTERM");
  expect(await mic.child.exited).toBe(0);
}

describe("compiled MIC against the https API server", () => {
  test("the kube CA is trusted through the kubeconfig only", () => {
    expect(world.kube.url).toStartWith("https://");
    const bundle = readFileSync(world.caBundlePath, "utf8");
    expect(bundle).not.toContain(world.kube.caPem?.trim() ?? "missing");
  });

  test("client certificate + certificate-authority-data: leads, lists and watches", async () => {
    const path = kubeconfig(
      "client-cert",
      { "certificate-authority-data": b64(world.kube.caPem ?? "") },
      {
        "client-certificate-data": b64(world.kube.clientCertificate?.certPem ?? ""),
        "client-key-data": b64(world.kube.clientCertificate?.keyPem ?? ""),
      },
    );
    await provesListWatchAndLease(await startMic("mic-client-cert", path), "mic-client-cert", "tls-cert", "10.244.9.1");
  }, 40_000);

  test("bearer token + certificate-authority file: leads, lists and watches", async () => {
    const caFile = join(world.dir, "kube-ca.crt");
    writeFileSync(caFile, world.kube.caPem ?? "");
    const path = kubeconfig("token", { "certificate-authority": caFile }, { token: world.kube.bearerToken });
    await provesListWatchAndLease(await startMic("mic-token", path), "mic-token", "tls-token", "10.244.9.2");
  }, 40_000);

  test("insecure-skip-tls-verify without any CA: leads, lists and watches", async () => {
    const path = kubeconfig("skip-verify", { "insecure-skip-tls-verify": true }, { token: world.kube.bearerToken });
    await provesListWatchAndLease(await startMic("mic-skip-verify", path), "mic-skip-verify", "tls-skip", "10.244.9.3");
  }, 40_000);

  test("neither a CA nor skip-verify: 503 and a certificate error in the log within seconds, no Lease; SIGTERM exits", async () => {
    const path = kubeconfig("untrusted", {}, { token: world.kube.bearerToken });
    const holderBefore = leaseHolder();
    const mic = await startMic("mic-untrusted", path);
    const started = Date.now();
    await world.waitFor(
      async () => (await mic.health())?.status === 503,
      10_000,
      "mic-untrusted answers 503 (API server unreachable)",
    );
    await world.waitFor(() => /certificate|self[- ]signed|unable to verify/i.test(mic.logs()), 5000, "a TLS error");
    console.log(`untrusted server reported after ${Date.now() - started} ms`);
    // e.g. `list/watch failed path=/api/v1/pods err="GET /api/v1/pods: self signed certificate in certificate chain"`
    const tlsLine = mic
      .logs()
      .split("\n")
      .find((line) => /certificate|self[- ]signed|unable to verify/i.test(line));
    expect(tlsLine).toMatch(/failed.*(certificate|self[- ]signed|unable to verify)/i);
    expect(await mic.health()).toEqual({ status: 503, body: "API server unreachable" });
    expect(leaseHolder()).toBe(holderBefore);
    mic.child.kill("SIGTERM");
    const code = await Promise.race([mic.child.exited, Bun.sleep(10_000).then(() => "still running")]);
    expect(code).toBe(0);
  }, 40_000);
});
