// The iptables shell against a simulated iptables (no root needed): reconcile, route_localnet,
// conntrack, failures and backoff, fail-closed stop and cleanup. Real iptables: test/e2e/nmi-*.
import { describe, expect, test } from "bun:test";
import {
  type CommandResult,
  type CommandRunner,
  Interceptor,
  ROUTE_LOCALNET_PATH,
  type SysctlAccess,
  shutdownAction,
} from "../../src/roles/nmi/iptables.ts";
import { expectedChainLines, type InterceptionTarget } from "../../src/roles/nmi/iptables-rules.ts";

const TARGET: InterceptionTarget = {
  metadataIp: "169.254.169.254",
  metadataPort: 80,
  targetIp: "127.0.0.1",
  targetPort: 2579,
};

/** A nat table holding one custom chain and the PREROUTING jumps to it. */
class FakeIptables implements CommandRunner {
  chain: string[] | null = null;
  jumps = 0;
  calls: string[][] = [];
  failNext: string | null = null;
  conntrackResult: CommandResult = { code: 1, stdout: "", stderr: "conntrack: 0 flow entries have been deleted." };

  async run(argv: readonly string[]): Promise<CommandResult> {
    this.calls.push([...argv]);
    const ok = (stdout = ""): CommandResult => ({ code: 0, stdout, stderr: "" });
    const fail = (stderr: string): CommandResult => ({ code: 1, stdout: "", stderr });
    if (argv[0] === "conntrack") return this.conntrackResult;
    expect(argv.slice(0, 5)).toEqual(["iptables", "-w", "5", "-t", "nat"]);
    const [op, chain, ...rest] = argv.slice(5);
    if (this.failNext && op === this.failNext) {
      this.failNext = null;
      return fail("Another app is currently holding the xtables lock");
    }
    switch (op) {
      case "-S":
        return this.chain ? ok(`${this.chain.join("\n")}\n`) : fail("chain does not exist");
      case "-C":
        return this.jumps > 0 ? ok() : fail("Bad rule");
      case "-N":
        if (this.chain) return fail("Chain already exists.");
        this.chain = [`-N ${chain}`];
        return ok();
      case "-F":
        if (!this.chain) return fail("No chain");
        this.chain = [`-N ${chain}`];
        return ok();
      case "-X":
        this.chain = null;
        return ok();
      case "-A":
        this.chain!.push(`-A ${chain} ${rest.join(" ")}`);
        return ok();
      case "-I":
        this.jumps++;
        return ok();
      case "-D":
        if (this.jumps === 0) return fail("Bad rule");
        this.jumps--;
        return ok();
    }
    return fail(`unexpected ${op}`);
  }
}

class FakeSysctl implements SysctlAccess {
  values = new Map<string, string>([[ROUTE_LOCALNET_PATH, "0\n"]]);
  ignoreWrites = false;
  async read(path: string) {
    return this.values.get(path) ?? "";
  }
  async write(path: string, value: string) {
    if (!this.ignoreWrites) this.values.set(path, value);
  }
}

function setup(options: { conntrack?: boolean; target?: InterceptionTarget } = {}) {
  const iptables = new FakeIptables();
  const sysctl = new FakeSysctl();
  const statuses: boolean[] = [];
  const interceptor = new Interceptor({
    target: options.target ?? TARGET,
    intervalMs: 60_000,
    enableConntrackDeletion: options.conntrack ?? false,
    runner: iptables,
    sysctl,
    onStatus: (active) => statuses.push(active),
    backoffInitialMs: 10,
  });
  return { iptables, sysctl, interceptor, statuses };
}

describe("Interceptor", () => {
  test("the first reconcile installs the chain and the jump, and reports active", async () => {
    const { iptables, interceptor } = setup();
    expect(await interceptor.reconcileNow()).toBe(true);
    expect(iptables.chain).toEqual(expectedChainLines(TARGET));
    expect(iptables.jumps).toBe(1);
  });

  test("a loopback target gets route_localnet=1, set and verified", async () => {
    const { sysctl, interceptor } = setup();
    await interceptor.reconcileNow();
    expect(sysctl.values.get(ROUTE_LOCALNET_PATH)).toBe("1");
  });

  test("route_localnet that does not stick makes the interception not active", async () => {
    const { sysctl, interceptor } = setup();
    sysctl.ignoreWrites = true;
    expect(await interceptor.reconcileNow()).toBe(false);
    expect(interceptor.lastError?.message).toContain("route_localnet");
  });

  test("a node-address target leaves route_localnet alone", async () => {
    const { sysctl, interceptor } = setup({ target: { ...TARGET, targetIp: "10.0.0.4" } });
    await interceptor.reconcileNow();
    expect(sysctl.values.get(ROUTE_LOCALNET_PATH)).toBe("0\n");
  });

  test("a flushed chain is restored on the next reconcile", async () => {
    const { iptables, interceptor } = setup();
    await interceptor.reconcileNow();
    iptables.chain = ["-N aad-metadata"];
    await interceptor.reconcileNow();
    expect(iptables.chain).toEqual(expectedChainLines(TARGET));
  });

  test("a correct chain is left untouched (only listed and checked)", async () => {
    const { iptables, interceptor } = setup();
    await interceptor.reconcileNow();
    iptables.calls = [];
    await interceptor.reconcileNow();
    expect(iptables.calls.map((c) => c[5])).toEqual(["-S", "-C"]);
  });

  test("an iptables failure is reported as not active, and a later reconcile recovers", async () => {
    const { iptables, interceptor, statuses } = setup();
    iptables.failNext = "-N";
    expect(await interceptor.reconcileNow()).toBe(false);
    expect(interceptor.lastError?.message).toContain("xtables lock");
    expect(await interceptor.reconcileNow()).toBe(true);
    expect(statuses).toEqual([false, true]);
  });

  test("the loop retries a failure with backoff instead of waiting a full interval or crashing", async () => {
    const { iptables, interceptor } = setup();
    iptables.failNext = "-N";
    interceptor.start();
    for (let i = 0; i < 100 && !interceptor.active; i++) await Bun.sleep(5);
    expect(interceptor.active).toBe(true);
    await interceptor.stop();
  });

  test("conntrack entries are cleared once after the first install; 'nothing to delete' is fine", async () => {
    const { iptables, interceptor } = setup({ conntrack: true });
    await interceptor.reconcileNow();
    await interceptor.reconcileNow();
    const conntrack = iptables.calls.filter((c) => c[0] === "conntrack");
    expect(conntrack).toEqual([
      ["conntrack", "-D", "-p", "tcp", "--orig-dst", "169.254.169.254", "--orig-port-dst", "80"],
    ]);
    expect(interceptor.active).toBe(true);
  });

  test("a failing conntrack is retried on the next reconcile", async () => {
    const { iptables, interceptor } = setup({ conntrack: true });
    iptables.conntrackResult = { code: 127, stdout: "", stderr: "conntrack: not found" };
    expect(await interceptor.reconcileNow()).toBe(false);
    iptables.conntrackResult = { code: 0, stdout: "", stderr: "1 flow entries have been deleted." };
    expect(await interceptor.reconcileNow()).toBe(true);
  });

  test("stop keeps the rules in place (fail closed)", async () => {
    const { iptables, interceptor } = setup();
    interceptor.start();
    for (let i = 0; i < 100 && !interceptor.active; i++) await Bun.sleep(5);
    await interceptor.stop();
    expect(iptables.chain).toEqual(expectedChainLines(TARGET));
    expect(iptables.jumps).toBe(1);
  });

  test("cleanup removes every jump and the chain", async () => {
    const { iptables, interceptor } = setup();
    await interceptor.reconcileNow();
    iptables.jumps = 3;
    await interceptor.cleanup();
    expect(iptables.jumps).toBe(0);
    expect(iptables.chain).toBeNull();
    expect(interceptor.active).toBe(false);
  });

  test("cleanup with nothing installed succeeds", async () => {
    const { interceptor } = setup();
    await interceptor.cleanup();
  });

  test("SIGTERM keeps the rules unless NMI is being uninstalled", () => {
    expect(shutdownAction(false)).toBe("keep-rules");
    expect(shutdownAction(true)).toBe("cleanup");
  });
});
