// aadpodidentity_nmi_iptables_errors_total counts failed reconciliations (and failed cleanups), not
// the "inactive" a clean uninstall reports. Runs the node agent with a fake iptables and sysctl.
import { describe, expect, test } from "bun:test";
import { createImdsProxy } from "../../src/roles/nmi/imds-proxy.ts";
import { InMemoryExceptions, InMemoryPods } from "../../src/roles/nmi/in-memory-ports.ts";
import type { CommandResult, CommandRunner, SysctlAccess } from "../../src/roles/nmi/iptables.ts";
import { NmiMetrics } from "../../src/roles/nmi/nmi-metrics.ts";
import { type NodeAgent, startNodeAgent } from "../../src/roles/nmi/node-agent.ts";

/** Nothing listed (-S / -C say absent), every change succeeds except the ops queued in `failures`. */
class ScriptedIptables implements CommandRunner {
  failures: string[] = [];
  async run(argv: readonly string[]): Promise<CommandResult> {
    if (argv[1] !== "-w") return { code: 1, stdout: "", stderr: "not here" }; // *-save, conntrack
    const op = argv[5]!;
    if (op === "-S" || op === "-C") return { code: 1, stdout: "", stderr: "No chain/target/match by that name." };
    if (this.failures[0] === op) {
      this.failures.shift();
      return { code: 4, stdout: "", stderr: "Another app is currently holding the xtables lock" };
    }
    return { code: 0, stdout: "", stderr: "" };
  }
}

const routeLocalnetSet: SysctlAccess = { read: async () => "1\n", write: async () => {} };

async function startAgent(runner: CommandRunner, metrics: NmiMetrics): Promise<NodeAgent> {
  return startNodeAgent(
    {
      listenAddress: "127.0.0.1",
      port: 0,
      probePort: null,
      metadataIp: "169.254.169.254",
      metadataPort: 80,
      iptUpdateIntervalMs: 60_000,
      enableConntrackDeletion: false,
      runner,
      sysctl: routeLocalnetSet,
      metrics,
    },
    {
      config: {
        metadataHeaderRequired: true,
        blockInstanceMetadata: false,
        setRetryAfterHeader: false,
        micNamespace: "default",
        maxHeaderBytes: 16384,
      },
      pods: new InMemoryPods(),
      exceptions: new InMemoryExceptions(),
      resolveIdentity: async () => {
        throw new Error("not used");
      },
      tokens: {
        forIdentity: async () => {
          throw new Error("not used");
        },
        forExceptedPod: async () => {
          throw new Error("not used");
        },
      },
      proxy: createImdsProxy({ metadataIp: "127.0.0.1", metadataPort: 9 }),
    },
    Promise.resolve(),
  );
}

const errorsTotal = async (metrics: NmiMetrics) => (await metrics.iptablesErrors.get()).values[0]?.value ?? 0;

describe("aadpodidentity_nmi_iptables_errors_total", () => {
  test("moves on a failed reconcile, not on a clean uninstall", async () => {
    const iptables = new ScriptedIptables();
    iptables.failures = ["-N"];
    const metrics = new NmiMetrics();
    const agent = await startAgent(iptables, metrics);
    try {
      for (let i = 0; i < 200 && !agent.interceptor.lastError; i++) await Bun.sleep(5);
      expect(agent.interceptor.lastError?.message).toContain("xtables lock");
      expect(await errorsTotal(metrics)).toBe(1);
      expect(await agent.interceptor.reconcileNow()).toBe(true);
      expect(await errorsTotal(metrics)).toBe(1);
    } finally {
      await agent.stop({ uninstalling: true });
    }
    expect(agent.interceptor.active).toBe(false);
    expect((await metrics.interceptionActive.get()).values[0]?.value).toBe(0);
    expect(await errorsTotal(metrics)).toBe(1);
  });

  test("moves when an uninstall cannot remove the rules", async () => {
    const iptables = new ScriptedIptables();
    const metrics = new NmiMetrics();
    const agent = await startAgent(iptables, metrics);
    for (let i = 0; i < 200 && !agent.interceptor.active; i++) await Bun.sleep(5);
    expect(await errorsTotal(metrics)).toBe(0);
    // The chain lists as present, and deleting it fails.
    iptables.run = async (argv) =>
      argv[5] === "-S" || argv[5] === "-F" || argv[5] === "-X"
        ? { code: argv[5] === "-S" ? 0 : 1, stdout: "", stderr: "Device or resource busy" }
        : { code: 1, stdout: "", stderr: "" };
    await expect(agent.stop({ uninstalling: true })).rejects.toThrow("cleanup incomplete");
    expect(await errorsTotal(metrics)).toBe(1);
    await agent.server.stop();
  });
});
