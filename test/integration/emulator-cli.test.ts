// `bun emulators/cli.ts` as a developer runs it: start it, read the endpoints and the kubeconfig it
// prints, use them (kubectl with the printed kubeconfig's contents, AAD → ARM with azure.json's service
// principal, IMDS), then Ctrl-C (SIGINT): exit 0, its files removed, nothing listening any more.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { kubectlPath } from "../support/tools.ts";

const root = resolve(import.meta.dir, "../..");
const scratch = mkdtempSync(join(tmpdir(), "emulator-cli-test-"));
const children: Bun.Subprocess[] = [];
afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  rmSync(scratch, { recursive: true, force: true });
});

interface RunningCli {
  child: Bun.Subprocess<"ignore", "pipe", "pipe">;
  output: string;
  /** The first URL on the line starting with `label`. */
  url(label: string): string;
  /** The kubeconfig printed between the marker lines, and the path in the opening marker. */
  kubeconfig(): { path: string; yaml: string };
}

async function startCli(args: string[]): Promise<RunningCli> {
  const child = Bun.spawn([process.execPath, "emulators/cli.ts", ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  children.push(child);
  const reader = child.stdout.getReader();
  let output = "";
  const deadline = Date.now() + 20_000;
  while (!output.includes("Ctrl-C stops everything")) {
    if (Date.now() > deadline) throw new Error(`the CLI printed no ready text within 20 s:\n${output}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`the CLI exited early:\n${output}\n${await new Response(child.stderr).text()}`);
    output += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    child,
    output,
    url(label) {
      const line = output.split("\n").find((l) => l.trimStart().startsWith(label));
      const found = line && /(https?:\/\/[^\s/]+(?:\/[^\s]*)?)/.exec(line.trimStart().slice(label.length))?.[1];
      if (!found) throw new Error(`no URL for ${label} in:\n${output}`);
      return found;
    },
    kubeconfig() {
      const match = /^----- kubeconfig (\S+) -----\n([\s\S]*?)\n----- end of kubeconfig -----$/m.exec(output);
      if (!match) throw new Error(`no kubeconfig block in:\n${output}`);
      return { path: match[1] ?? "", yaml: `${match[2]}\n` };
    },
  };
}

/** SIGINT, as Ctrl-C sends; resolves with the exit code (rejects after 10 s). */
async function interrupt(cli: RunningCli): Promise<number> {
  cli.child.kill("SIGINT");
  const timeout = Bun.sleep(10_000).then(() => {
    throw new Error("the CLI did not exit within 10 s of SIGINT");
  });
  return Promise.race([cli.child.exited, timeout]);
}

async function kubectl(kubeconfigYaml: string, ...args: string[]): Promise<string> {
  const file = join(scratch, `kubeconfig-${crypto.randomUUID()}`);
  writeFileSync(file, kubeconfigYaml);
  const p = Bun.spawn([kubectlPath(), "--kubeconfig", file, ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${code}): ${err}`);
  return out;
}

/** True when nothing accepts connections at the URL's host:port any more. */
async function refused(url: string): Promise<boolean> {
  try {
    await fetch(url, { tls: { rejectUnauthorized: false }, signal: AbortSignal.timeout(2000) });
    return false;
  } catch {
    return true;
  }
}

describe("emulators CLI", () => {
  test("--help documents --only; an unknown emulator name exits 2 naming the choices", () => {
    const help = Bun.spawnSync([process.execPath, "emulators/cli.ts", "--help"], { cwd: root });
    expect(help.exitCode).toBe(0);
    expect(help.stdout.toString()).toContain("--only NAME");
    expect(help.stdout.toString()).toContain("kube: Kubernetes API server");
    const bad = Bun.spawnSync([process.execPath, "emulators/cli.ts", "--only", "dns"], { cwd: root });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toContain("--only: must be one of kube, arm, aad, imds");
  });

  test("the whole world: printed kubeconfig, AAD → ARM with azure.json's service principal, IMDS; SIGINT cleans up", async () => {
    const cli = await startCli([]);
    const kube = cli.url("kubernetes API");
    const arm = cli.url("ARM");
    const aad = cli.url("AAD");
    const imds = cli.url("aks-nodepool1-12345678-vmss000000");
    const { path, yaml } = cli.kubeconfig();
    expect(yaml).toContain(`server: "${kube}"`);
    expect(readFileSync(path, "utf8")).toBe(yaml);

    const nodes = await kubectl(yaml, "get", "nodes", "-o", "name");
    expect(nodes.trim().split("\n")).toEqual([
      "node/aks-nodepool1-12345678-vmss000000",
      "node/aks-nodepool1-12345678-vmss000001",
    ]);
    expect(await kubectl(yaml, "get", "crd", "-o", "name")).toContain("azureidentities.aadpodidentity.k8s.io");

    // azure.json and the CA bundle are where the output says; a token from AAD opens ARM.
    const azureJsonPath = /azure\.json\s+(\S+)/.exec(cli.output)?.[1] ?? "";
    const caBundle = /export NODE_EXTRA_CA_CERTS=(\S+)/.exec(cli.output)?.[1] ?? "";
    const config = JSON.parse(readFileSync(azureJsonPath, "utf8"));
    const ca = readFileSync(caBundle, "utf8");
    const tokenResponse = await fetch(`${aad}/oauth2/v2.0/token`, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: config.aadClientId,
        client_secret: config.aadClientSecret,
        scope: "https://management.azure.com/.default",
      }),
      tls: { ca },
    });
    expect(tokenResponse.status).toBe(200);
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    const vmss = await fetch(
      `${arm}/subscriptions/${config.subscriptionId}/resourceGroups/${config.resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss?api-version=2024-07-01`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    expect(vmss.status).toBe(200);
    expect(((await vmss.json()) as { name: string }).name).toBe("aks-nodepool1-12345678-vmss");

    const instance = await fetch(`${imds}/metadata/instance/compute?api-version=2021-02-01`, {
      headers: { Metadata: "true" },
    });
    expect(((await instance.json()) as { vmScaleSetName: string }).vmScaleSetName).toBe("aks-nodepool1-12345678-vmss");

    expect(await interrupt(cli)).toBe(0);
    expect(existsSync(dirname(path))).toBe(false);
    for (const url of [kube, arm, aad, imds]) expect(await refused(url)).toBe(true);
  }, 60_000);

  test("--only kube --tls: just the API server; its kubeconfig works with kubectl and its token with fetch", async () => {
    const cli = await startCli(["--only", "kube", "--tls"]);
    expect(cli.output).toStartWith("emulators are up (kube)\n");
    expect(cli.output).not.toMatch(/^\s+(ARM|AAD)\s/m);
    const kube = cli.url("kubernetes API");
    expect(kube).toStartWith("https://127.0.0.1:");
    const { path, yaml } = cli.kubeconfig();
    expect(yaml).toContain("client-certificate-data:");

    const crds = await kubectl(yaml, "get", "crd", "-o", "name");
    for (const plural of ["azureidentities", "azureidentitybindings", "azureassignedidentities"])
      expect(crds).toContain(`${plural}.aadpodidentity.k8s.io`);
    const manifest = join(scratch, "namespace.yaml");
    writeFileSync(manifest, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: from-kubectl\n");
    await kubectl(yaml, "create", "-f", manifest);
    expect(await kubectl(yaml, "get", "namespace", "from-kubectl", "-o", "name")).toBe("namespace/from-kubectl\n");

    const token = /bearer token\s+(\S+)/.exec(cli.output)?.[1] ?? "";
    const ca = Buffer.from(/certificate-authority-data: "([^"]+)"/.exec(yaml)?.[1] ?? "", "base64").toString();
    const nodes = await fetch(`${kube}/api/v1/nodes`, { headers: { authorization: `Bearer ${token}` }, tls: { ca } });
    expect(nodes.status).toBe(200);
    expect(((await nodes.json()) as { items: unknown[] }).items).toHaveLength(2);

    expect(await interrupt(cli)).toBe(0);
    expect(existsSync(dirname(path))).toBe(false);
    expect(await refused(kube)).toBe(true);
  }, 60_000);

  test("--only imds brings ARM along and serves one IMDS per node; no kubeconfig is printed", async () => {
    const cli = await startCli(["--only", "imds", "--vm", "aks-agentpool-12345678-0"]);
    expect(cli.output).not.toContain("kubernetes API");
    expect(cli.output).not.toContain("----- kubeconfig");
    const arm = cli.url("ARM");
    const imds = cli.url("aks-agentpool-12345678-0");
    const instance = await fetch(`${imds}/metadata/instance/compute?api-version=2021-02-01`, {
      headers: { Metadata: "true" },
    });
    expect(((await instance.json()) as { name: string }).name).toBe("aks-agentpool-12345678-0");
    // Alone, ARM takes any bearer token.
    const vm = await fetch(
      `${arm}/subscriptions/8f2d5c6e-1b3a-4c7d-9e0f-2a4b6c8d0e1f/resourceGroups/MC_pod-identity-demo_demo-aks_westus2/providers/Microsoft.Compute/virtualMachines/aks-agentpool-12345678-0?api-version=2024-07-01`,
      { headers: { authorization: "Bearer anything" } },
    );
    expect(vm.status).toBe(200);
    expect(await interrupt(cli)).toBe(0);
    expect(await refused(imds)).toBe(true);
    expect(await refused(arm)).toBe(true);
  }, 60_000);
});
