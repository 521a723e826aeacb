// `npm run demo` (scripts/demo.ts) end to end: the compiled binary's MIC and NMI against the emulated
// world. The bound pod's token must name the bound identity and the other pod must be refused. As root
// the pods live in network namespaces and reach NMI only through its iptables rule, and nothing the demo
// made (namespaces, veths, rules, 169.254.169.254) may remain, on this machine or at all, after it exits
// — also when it is stopped with Ctrl-C. --loopback shows the mode used without root.
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { kubectlPath } from "../support/tools.ts";

const root = resolve(import.meta.dir, "../..");
const netnsCapable =
  process.getuid?.() === 0 &&
  Bun.which("ip") !== null &&
  Bun.which("iptables") !== null &&
  Bun.which("unshare") !== null &&
  Bun.spawnSync(["ip", "netns", "list"]).exitCode === 0;
if (!netnsCapable) console.warn("demo test: not root or no ip/iptables/unshare: only the loopback mode is checked");

function startDemo(args: string[]) {
  return Bun.spawn([process.execPath, resolve(root, "scripts/demo.ts"), ...args], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
}

async function runDemo(args: string[] = []): Promise<{ code: number; out: string; pid: number }> {
  const child = startDemo(args);
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code: await child.exited, out: out + err, pid: child.pid };
}

function sh(argv: string[]) {
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, out: result.stdout.toString() + result.stderr.toString() };
}

/** The bound pod's token: 200 from its IP, and the decoded appid is the clientId the demo names as demo-identity's. */
function expectBoundPodToken(out: string, podIp: string): void {
  expect(out).toMatch(new RegExp(`pod demo-app \\(${podIp.replaceAll(".", "\\.")}\\) → 200`));
  const clientId = /= demo-identity \(clientId ([0-9a-f-]{36})\), the identity bound to the pod/.exec(out)?.[1];
  expect(clientId).toBeDefined();
  expect(out).toMatch(new RegExp(`appid\\s+${clientId}`));
  expect(out).toMatch(/xms_mirid\s+\S+\/userAssignedIdentities\/demo-identity\n/);
}

/** The unlabelled pod: 404 with the original's "no assigned identity" text naming the pod, and no token. */
function expectOtherPodRefused(out: string, podIp: string): void {
  expect(out).toMatch(new RegExp(`pod other-app \\(${podIp.replaceAll(".", "\\.")}\\) → 404`));
  expect(out).toMatch(
    /"error_description":"getting assigned identities for pod default\/other-app in CREATED state failed/,
  );
  expect(out).not.toMatch(/other-app[^\n]*→ 200/);
}

function expectAssignment(out: string): void {
  expect(out).toContain("2 replicas running");
  expect(out).toMatch(/AzureAssignedIdentity \S+: Created/);
  expect(out).toMatch(/AzureAssignedIdentity \S+: Assigned/);
  expect(out).toContain("demo-identity is on scale set aks-nodepool1-12345678-vmss");
}

/** The pod namespaces the demo says it made. */
function namespacesNamed(out: string): string[] {
  return [...out.matchAll(/in netns (pidemo-\d+-[\w-]+)/g)].map((m) => m[1] ?? "");
}

/** Nothing of the demo's network is left: no namespace, veth, address or NMI chain, here or anywhere. */
function expectNetworkGone(namespaces: string[]): void {
  const listed = sh(["ip", "netns", "list"]).out;
  for (const name of namespaces) expect(listed).not.toContain(name);
  expect(sh(["iptables", "-w", "5", "-t", "nat", "-S", "aad-metadata"]).code).not.toBe(0);
  expect(sh(["iptables", "-w", "5", "-t", "nat", "-S", "PREROUTING"]).out).not.toContain("aad-metadata");
  const links = sh(["ip", "-o", "link"]).out;
  expect(links).not.toContain("veth-demo-app");
  expect(links).not.toContain("veth-other-app");
  expect(sh(["ip", "-o", "addr"]).out).not.toContain("169.254.169.254");
}

/** Reads a child's stdout until `pattern` matches what has been read so far. */
async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp, timeoutMs: number): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!pattern.test(text)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`not seen within ${timeoutMs} ms: ${pattern}\n${text}`);
      const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
      if (chunk === null) continue;
      if (chunk.done) throw new Error(`output ended before ${pattern}\n${text}`);
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return text;
}

describe("npm run demo", () => {
  test.skipIf(!netnsCapable)(
    "as root: pods in network namespaces get the bound token / a refusal through NMI's iptables interception, and nothing is left behind",
    async () => {
      const { code, out } = await runDemo();
      expect(out).not.toContain("Loopback mode");
      expect(out).toContain("Pods run in their own network namespaces behind real iptables interception");
      const namespaces = namespacesNamed(out);
      expect(namespaces).toHaveLength(2);
      expect(out).toMatch(/demo-app 10\.244\.0\.11 in netns pidemo-\d+-demo-app/);
      expect(out).toContain(
        "each pod sends a plain GET http://169.254.169.254/metadata/identity/oauth2/token; the node's iptables redirects it to NMI",
      );
      expect(out).toContain("token server 127.0.0.1:2579, /healthz: 200 Active");
      expect(out).toContain(
        "iptables -t nat: -A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:2579",
      );
      expectAssignment(out);
      expectBoundPodToken(out, "10.244.0.11");
      expectOtherPodRefused(out, "10.244.0.12");
      expect(out).toContain("deleted the pod network namespaces");
      expect(code).toBe(0);
      expectNetworkGone(namespaces);
    },
    60_000,
  );

  test("--loopback: pods are loopback source addresses, and the demo says so", async () => {
    const { code, out } = await runDemo(["--loopback"]);
    expect(out).toContain("Loopback mode (--loopback was given): pods are stood for by loopback source addresses");
    expect(namespacesNamed(out)).toHaveLength(0);
    expectAssignment(out);
    expectBoundPodToken(out, "127.0.0.11");
    expectOtherPodRefused(out, "127.0.0.12");
    expect(out).toContain("removed the temp files");
    expect(code).toBe(0);
  }, 60_000);

  test.skipIf(!netnsCapable)(
    "--keep: the printed kubectl and pod commands work while it runs, and Ctrl-C removes the namespaces",
    async () => {
      const child = startDemo(["--keep"]);
      const stderr = new Response(child.stderr).text();
      try {
        const out = await readUntil(
          child.stdout,
          /a token request from inside pod demo-app.*\n\s+(ip netns exec .*)\n/,
          60_000,
        );
        const namespaces = namespacesNamed(out);
        expect(namespaces).toHaveLength(2);

        const podCommand = /a token request from inside pod demo-app.*\n\s+(ip netns exec .*)\n/.exec(out)?.[1] ?? "";
        const fromPod = sh(["sh", "-c", podCommand]);
        expect(fromPod.code).toBe(0);
        expect(fromPod.out).toContain('"access_token"');

        const kubectlLine = /^\s+(nsenter --target \d+ --net) kubectl (--kubeconfig \S+) get .*$/m.exec(out);
        expect(kubectlLine).not.toBeNull();
        const [, nsenter = "", kubeconfig = ""] = kubectlLine ?? [];
        const listed = sh([
          "sh",
          "-c",
          `${nsenter} ${kubectlPath()} ${kubeconfig} get azureassignedidentities -A -o jsonpath='{.items[*].status.status}'`,
        ]);
        expect(listed.out).toBe("Assigned");

        process.kill(child.pid, "SIGINT");
        expect(await child.exited).toBe(130);
        expectNetworkGone(namespaces);
      } finally {
        // A failed assertion must not leave the demo running: Ctrl-C first (it cleans up), then kill.
        if (child.exitCode === null) {
          process.kill(child.pid, "SIGINT");
          await Promise.race([child.exited, Bun.sleep(10_000)]);
          child.kill("SIGKILL");
        }
        await stderr;
      }
    },
    60_000,
  );
});
