// The chart's uninstall path (`nmi.removeInterception=true`) on a node: the compiled binary, started
// with exactly the rendered cleanup container's arguments and environment, removes NMI's interception
// (the PREROUTING jump and the aad-metadata chain, installed here as NMI installs them) with the real
// iptables, inside a network namespace this test creates, so the host's rules are never touched.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CHAIN, expectedRules, JUMP_FROM, NAT_TABLE } from "../../src/roles/nmi/iptables-rules.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { renderChart } from "../support/helm-render.ts";

const NETNS = `pihu${process.pid}`;

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespace, iptables)";
  if (!Bun.which("ip") || !Bun.which("iptables")) return "needs iproute2 and iptables";
  return undefined;
}
const skip = skipReason();
if (skip) console.warn(`helm-uninstall: skipped, ${skip}`);

function inNetns(argv: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync(["ip", "netns", "exec", NETNS, ...argv], {
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: result.exitCode ?? 1, out: result.stdout.toString(), err: result.stderr.toString() };
}

function iptables(...args: string[]) {
  const result = inNetns(["iptables", "-w", "5", "-t", NAT_TABLE, ...args]);
  if (result.code !== 0) throw new Error(`iptables ${args.join(" ")}: ${result.err}`);
  return result.out;
}

describe.skipIf(skip !== undefined)("uninstall with nmi.removeInterception=true", () => {
  beforeAll(() => {
    const added = Bun.spawnSync(["ip", "netns", "add", NETNS], { stderr: "pipe" });
    if (added.exitCode !== 0) throw new Error(`ip netns add: ${added.stderr.toString()}`);
  });

  afterAll(() => {
    Bun.spawnSync(["ip", "netns", "del", NETNS]);
  });

  test("the rendered cleanup container removes the interception NMI left behind, and leaves other rules", async () => {
    // What a running NMI with the chart's defaults keeps in place (and keeps across restarts).
    iptables("-N", CHAIN);
    for (const rule of expectedRules({
      metadataIp: "169.254.169.254",
      metadataPort: 80,
      targetIp: "127.0.0.1",
      targetPort: 2579,
    }))
      iptables("-A", CHAIN, ...rule);
    iptables("-I", JUMP_FROM, "1", "-j", CHAIN);
    iptables("-A", JUMP_FROM, "-d", "10.0.0.10/32", "-j", "RETURN");
    expect(iptables("-S")).toContain(`-A ${JUMP_FROM} -j ${CHAIN}`);

    const pod = renderChart({ set: ["nmi.removeInterception=true"] }).find("DaemonSet")?.spec?.template?.spec;
    const cleanup = pod?.initContainers?.find((c) => c.name === "remove-interception");
    if (!cleanup?.args) throw new Error("no cleanup container rendered");
    expect(cleanup.env).toBeUndefined();
    const binary = await compiledBinary();
    const run = inNetns([binary, ...cleanup.args]);
    expect({ code: run.code, err: run.err.includes("removed the IMDS interception") }).toEqual({ code: 0, err: true });

    const after = iptables("-S");
    expect(after).not.toContain(CHAIN);
    expect(after).toContain(`-A ${JUMP_FROM} -d 10.0.0.10/32 -j RETURN`);
    // Idempotent: a restarted cleanup pod (the init container runs again) succeeds on a clean node.
    expect(inNetns([binary, ...cleanup.args]).code).toBe(0);
  }, 60_000);
});
