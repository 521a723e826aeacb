// Real kubectl 1.34 against the https Kubernetes emulator (client-certificate kubeconfig): CRD from
// YAML, custom resources and pods through create/get/list/label/patch/watch/delete, including
// `--watch-only --output-watch-events` on AzureIdentities (table rows for ADDED, MODIFIED, DELETED).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type KubeEmulator, startKubeEmulator } from "../../emulators/kube/index.ts";
import { kubectlPath } from "../support/tools.ts";

const fixtures = resolve(import.meta.dir, "../fixtures/kube");
let emu: KubeEmulator;
let dir: string;
let kubeconfig: string;

// Bun.spawn (not spawnSync): the emulator runs in this process and must keep serving meanwhile.
async function kubectl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([kubectlPath(), "--kubeconfig", kubeconfig, ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.code}): ${r.err}`);
  return r.out;
}

beforeAll(async () => {
  emu = await startKubeEmulator({ tls: true });
  dir = mkdtempSync(join(tmpdir(), "kube-emu-kubectl-"));
  kubeconfig = join(dir, "kubeconfig");
  emu.writeKubeconfig(kubeconfig);
  kubectlPath();
});

afterAll(async () => {
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("kubectl against the https emulator", () => {
  test("talks to the server with the client certificate and reports its version", async () => {
    const out = await ok("version", "-o", "json");
    expect(JSON.parse(out).serverVersion.gitVersion).toBe("v1.34.0");
  });

  test("applies the AzureIdentity CRD and then serves AzureIdentities: create, get -o json, list with printer columns", async () => {
    expect(await ok("apply", "-f", join(fixtures, "azureidentity-crd.yaml"))).toContain("created");
    expect(await ok("create", "-f", join(fixtures, "azureidentity.yaml"))).toContain(
      "azureidentity.aadpodidentity.k8s.io/demo-identity created",
    );
    const got = JSON.parse(await ok("get", "azureidentity", "demo-identity", "-o", "json"));
    expect(got.spec.clientID).toBe("11111111-1111-1111-1111-111111111111");
    expect(got.spec.type).toBe(0);
    expect(got.metadata.uid).toBeString();
    const table = await ok("get", "azureidentities");
    expect(table).toMatch(/NAME\s+TYPE\s+CLIENTID\s+AGE/);
    expect(table).toMatch(/demo-identity\s+0\s+11111111-1111-1111-1111-111111111111/);
  });

  test("labels, merge-patches and json-patches an AzureIdentity; strategic merge is refused for custom resources", async () => {
    await ok("label", "azureidentity", "demo-identity", "team=blue");
    await ok(
      "patch",
      "azureidentity",
      "demo-identity",
      "--type",
      "merge",
      "-p",
      '{"spec":{"clientID":"22222222-2222-2222-2222-222222222222"}}',
    );
    await ok(
      "patch",
      "azureidentity",
      "demo-identity",
      "--type",
      "json",
      "-p",
      '[{"op":"replace","path":"/spec/type","value":1}]',
    );
    const got = emu.get("aadpodidentity.k8s.io/v1", "AzureIdentity", "default", "demo-identity")!;
    expect(got.metadata.labels).toEqual({ team: "blue" });
    expect(got.spec.clientID).toBe("22222222-2222-2222-2222-222222222222");
    expect(got.spec.type).toBe(1);
    const strategic = await kubectl("patch", "azureidentity", "demo-identity", "-p", '{"spec":{"clientID":"x"}}');
    expect(strategic.code).not.toBe(0);
    expect(strategic.err).toContain("application/strategic-merge-patch+json is not supported");
  });

  test("creates, labels, patches (strategic and json), lists by label and deletes a pod", async () => {
    await ok("create", "-f", join(fixtures, "pod.yaml"));
    await ok("label", "pod", "demo-pod", "tier=web");
    await ok("patch", "pod", "demo-pod", "-p", '{"metadata":{"annotations":{"note":"hi"}}}');
    await ok(
      "patch",
      "pod",
      "demo-pod",
      "--type",
      "json",
      "-p",
      '[{"op":"replace","path":"/metadata/labels/tier","value":"db"}]',
    );
    const listed = await ok("get", "pods", "-l", "tier=db", "-o", "name");
    expect(listed.trim()).toBe("pod/demo-pod");
    expect((await ok("get", "pods", "-l", "tier=web", "-o", "name")).trim()).toBe("");
    const pod = JSON.parse(await ok("get", "pod", "demo-pod", "-o", "json"));
    expect(pod.metadata.annotations.note).toBe("hi");
    expect(pod.spec.nodeName).toBe("node-1");
    expect(await ok("delete", "pod", "demo-pod")).toContain("deleted");
    expect(emu.get("v1", "Pod", "default", "demo-pod")).toBeUndefined();
  });

  test("kubectl get --watch-only prints objects created after the watch started", async () => {
    const watchCount = () =>
      emu.requests().filter((r) => r.path.includes("/pods?") && r.path.includes("watch=true")).length;
    const before = watchCount();
    const proc = Bun.spawn([kubectlPath(), "--kubeconfig", kubeconfig, "get", "pods", "--watch-only", "-o", "name"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const watching = () => watchCount() > before;
      for (let i = 0; i < 200 && !watching(); i++) await Bun.sleep(25);
      expect(watching()).toBe(true);
      emu.create({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "watched", namespace: "default" },
        spec: { containers: [{ name: "c", image: "busybox" }] },
      });
      const reader = proc.stdout.getReader();
      let seen = "";
      while (!seen.includes("pod/watched")) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += new TextDecoder().decode(value);
      }
      expect(seen).toContain("pod/watched");
    } finally {
      proc.kill();
      await proc.exited;
    }
  });

  test("kubectl get azureidentities --watch-only --output-watch-events shows an add, an update and a delete", async () => {
    const AI = "aadpodidentity.k8s.io/v1";
    const watchCount = () =>
      emu.requests().filter((r) => r.path.includes("/azureidentities?") && r.path.includes("watch=true")).length;
    const before = watchCount();
    const proc = Bun.spawn(
      [kubectlPath(), "--kubeconfig", kubeconfig, "get", "azureidentities", "--watch-only", "--output-watch-events"],
      { stdout: "pipe", stderr: "pipe" },
    );
    const reader = proc.stdout.getReader();
    let seen = "";
    const until = async (pattern: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!pattern.test(seen)) {
        if (Date.now() > deadline) throw new Error(`kubectl printed no ${pattern} within 10 s; got:\n${seen}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`kubectl exited before ${pattern}; got:\n${seen}`);
        seen += new TextDecoder().decode(value);
      }
    };
    try {
      for (let i = 0; i < 200 && watchCount() === before; i++) await Bun.sleep(25);
      expect(watchCount()).toBeGreaterThan(before);
      emu.create({
        apiVersion: AI,
        kind: "AzureIdentity",
        metadata: { name: "watched-identity", namespace: "default" },
        spec: {
          type: 0,
          resourceID: "/subscriptions/s/resourcegroups/r/providers/x/y/watched",
          clientID: "33333333-3333-3333-3333-333333333333",
        },
      });
      await until(/ADDED\s+watched-identity\s+0\s+33333333-3333-3333-3333-333333333333/);
      emu.patch(AI, "AzureIdentity", "default", "watched-identity", {
        spec: { clientID: "44444444-4444-4444-4444-444444444444" },
      });
      await until(/MODIFIED\s+watched-identity\s+0\s+44444444-4444-4444-4444-444444444444/);
      emu.remove(AI, "AzureIdentity", "default", "watched-identity");
      await until(/DELETED\s+watched-identity\s+0\s+44444444-4444-4444-4444-444444444444/);
      // Only the events after the watch started, in order, under one header.
      const lines = seen.trim().split("\n");
      expect(lines[0]).toMatch(/^EVENT\s+NAME\s+TYPE\s+CLIENTID\s+AGE$/);
      expect(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 2).join(" "))).toEqual([
        "ADDED watched-identity",
        "MODIFIED watched-identity",
        "DELETED watched-identity",
      ]);
    } finally {
      proc.kill();
      await proc.exited;
    }
  });

  test("deletes the AzureIdentity from its manifest, then get reports NotFound", async () => {
    await ok("delete", "-f", join(fixtures, "azureidentity.yaml"));
    const r = await kubectl("get", "azureidentity", "demo-identity");
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('azureidentities.aadpodidentity.k8s.io "demo-identity" not found');
  });
});
