// The iptables shell against a simulated iptables (no root needed): reconcile, route_localnet (and
// failing closed when it cannot be set), the localnet guard, backend detection, conntrack, failures and
// backoff, fail-closed stop and cleanup. Real iptables: test/e2e/nmi-*.
import { describe, expect, test } from "bun:test";
import {
  type CommandResult,
  type CommandRunner,
  Interceptor,
  type InterceptorLogger,
  ROUTE_LOCALNET_ADVICE,
  ROUTE_LOCALNET_PATH,
  type SysctlAccess,
  shutdownAction,
  type Which,
} from "../../src/roles/nmi/iptables.ts";
import {
  chainLines,
  expectedChainLines,
  type InterceptionTarget,
  LOCALNET_GUARD,
} from "../../src/roles/nmi/iptables-rules.ts";

const TARGET: InterceptionTarget = {
  metadataIp: "169.254.169.254",
  metadataPort: 80,
  targetIp: "127.0.0.1",
  targetPort: 2579,
};

/**
 * iptables tables holding custom chains and the jumps to them from built-in chains, run as `command`.
 * `chain` / `jumps` are the nat interception's, `guard` / `guardJumps` the filter guard's.
 */
class FakeIptables implements CommandRunner {
  chains = new Map<string, string[]>();
  jumpCounts = new Map<string, number>();
  readonly calls: string[][] = [];
  failNext: string | null = null;
  command = "iptables";
  /** iptables-*-save outputs by command (backend detection). */
  saves: Record<string, string> = {};
  conntrackResult: CommandResult = { code: 1, stdout: "", stderr: "conntrack: 0 flow entries have been deleted." };

  get chain(): string[] | null {
    return this.chains.get("nat/aad-metadata") ?? null;
  }
  set chain(lines: string[] | null) {
    if (lines) this.chains.set("nat/aad-metadata", lines);
    else this.chains.delete("nat/aad-metadata");
  }
  get jumps(): number {
    return this.jumpCounts.get("nat/PREROUTING/aad-metadata") ?? 0;
  }
  set jumps(n: number) {
    this.jumpCounts.set("nat/PREROUTING/aad-metadata", n);
  }
  get guard(): string[] | null {
    return this.chains.get("filter/aad-metadata-localnet") ?? null;
  }
  set guard(lines: string[] | null) {
    if (lines) this.chains.set("filter/aad-metadata-localnet", lines);
    else this.chains.delete("filter/aad-metadata-localnet");
  }
  get guardJumps(): number {
    return this.jumpCounts.get("filter/INPUT/aad-metadata-localnet") ?? 0;
  }

  async run(argv: readonly string[]): Promise<CommandResult> {
    this.calls.push([...argv]);
    const ok = (stdout = ""): CommandResult => ({ code: 0, stdout, stderr: "" });
    const fail = (stderr: string): CommandResult => ({ code: 1, stdout: "", stderr });
    if (argv[0] === "conntrack") return this.conntrackResult;
    const save = this.saves[argv[0]!];
    if (save !== undefined) return ok(save);
    expect(argv.slice(0, 4)).toEqual([this.command, "-w", "5", "-t"]);
    const table = argv[4]!;
    const [op, chain, ...rest] = argv.slice(5);
    const key = `${table}/${chain}`;
    if (this.failNext && op === this.failNext) {
      this.failNext = null;
      return fail("Another app is currently holding the xtables lock");
    }
    // -C / -I / -D name the built-in chain; the custom chain follows -j.
    const jumpKey = () => `${table}/${chain}/${argv.at(-1)}`;
    switch (op) {
      case "-S": {
        const lines = this.chains.get(key);
        return lines ? ok(`${lines.join("\n")}\n`) : fail("chain does not exist");
      }
      case "-C":
        return (this.jumpCounts.get(jumpKey()) ?? 0) > 0 ? ok() : fail("Bad rule");
      case "-N":
        if (this.chains.has(key)) return fail("Chain already exists.");
        this.chains.set(key, [`-N ${chain}`]);
        return ok();
      case "-F":
        if (!this.chains.has(key)) return fail("No chain");
        this.chains.set(key, [`-N ${chain}`]);
        return ok();
      case "-X":
        this.chains.delete(key);
        return ok();
      case "-A":
        this.chains.get(key)!.push(`-A ${chain} ${rest.join(" ")}`);
        return ok();
      case "-I":
        this.jumpCounts.set(jumpKey(), (this.jumpCounts.get(jumpKey()) ?? 0) + 1);
        return ok();
      case "-D": {
        const n = this.jumpCounts.get(jumpKey()) ?? 0;
        if (n === 0) return fail("Bad rule");
        this.jumpCounts.set(jumpKey(), n - 1);
        return ok();
      }
    }
    return fail(`unexpected ${op}`);
  }
}

class FakeSysctl implements SysctlAccess {
  /** Shared with the fake iptables' calls, so tests see the order of sysctl writes and iptables calls. */
  constructor(readonly calls: string[][] = []) {}
  values = new Map<string, string>([[ROUTE_LOCALNET_PATH, "0\n"]]);
  ignoreWrites = false;
  /** As in an unprivileged container, where /proc/sys is mounted read-only. */
  readOnly = false;
  async read(path: string) {
    return this.values.get(path) ?? "";
  }
  async write(path: string, value: string) {
    if (this.readOnly) throw new Error(`EROFS: read-only file system, open '${path}'`);
    this.calls.push(["sysctl-write", path, value]);
    if (!this.ignoreWrites) this.values.set(path, value);
  }
}

/** Log lines as "level message". */
class FakeLog implements InterceptorLogger {
  lines: string[] = [];
  info(_fields: object, message: string) {
    this.lines.push(`info ${message}`);
  }
  warn(_fields: object, message: string) {
    this.lines.push(`warn ${message}`);
  }
  error(_fields: object, message: string) {
    this.lines.push(`error ${message}`);
  }
}

function setup(
  options: { conntrack?: boolean; target?: InterceptionTarget; detect?: { which: Which; iptables: FakeIptables } } = {},
) {
  const iptables = options.detect?.iptables ?? new FakeIptables();
  const sysctl = new FakeSysctl(iptables.calls);
  const log = new FakeLog();
  const statuses: boolean[] = [];
  const interceptor = new Interceptor({
    target: options.target ?? TARGET,
    intervalMs: 60_000,
    enableConntrackDeletion: options.conntrack ?? false,
    runner: iptables,
    sysctl,
    log,
    ...(options.detect ? { which: options.detect.which } : { backend: "iptables" as const }),
    onStatus: (active) => statuses.push(active),
    backoffInitialMs: 10,
  });
  return { iptables, sysctl, log, interceptor, statuses };
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
    iptables.calls.length = 0;
    await interceptor.reconcileNow();
    expect(iptables.calls.map((c) => `${c[4]} ${c[5]}`)).toEqual(["nat -S", "nat -C", "filter -S", "filter -C"]);
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

  test("cleanup removes the localnet guard and its INPUT jump too", async () => {
    const { iptables, interceptor } = setup();
    await interceptor.reconcileNow();
    expect(iptables.guardJumps).toBe(1);
    await interceptor.cleanup();
    expect(iptables.guard).toBeNull();
    expect(iptables.guardJumps).toBe(0);
  });

  test("SIGTERM keeps the rules unless NMI is being uninstalled", () => {
    expect(shutdownAction(false)).toBe("keep-rules");
    expect(shutdownAction(true)).toBe("cleanup");
  });
});

describe("route_localnet cannot be set (read-only /proc/sys, kube-proxy did not set it)", () => {
  test("the rules are installed anyway, NMI reports Not Active, and says once what to do", async () => {
    const { iptables, sysctl, log, interceptor, statuses } = setup();
    sysctl.readOnly = true;
    for (let i = 0; i < 3; i++) expect(await interceptor.reconcileNow()).toBe(false);
    // Fail closed: DNAT to 127.0.0.1 without route_localnet is martian and dropped, so pods are blocked.
    expect(iptables.chain).toEqual(expectedChainLines(TARGET));
    expect(iptables.jumps).toBe(1);
    expect(statuses).toEqual([false, false, false]);
    expect(interceptor.lastError?.message).toContain("route_localnet");
    expect(interceptor.lastError?.message).toContain("EROFS");
    expect(log.lines.filter((line) => line === `error ${ROUTE_LOCALNET_ADVICE}`)).toHaveLength(1);
    expect(ROUTE_LOCALNET_ADVICE).toContain("net.ipv4.conf.all.route_localnet=1");
    expect(ROUTE_LOCALNET_ADVICE).toContain("--nmi-listen-address");
  });

  test("conntrack entries to IMDS are still cleared, so older flows hit the DNAT too", async () => {
    const { iptables, sysctl, interceptor } = setup({ conntrack: true });
    sysctl.readOnly = true;
    expect(await interceptor.reconcileNow()).toBe(false);
    expect(iptables.calls.filter((c) => c[0] === "conntrack")).toHaveLength(1);
  });

  test("the loop keeps retrying with backoff and becomes Active once the sysctl is set", async () => {
    const { sysctl, interceptor } = setup();
    sysctl.readOnly = true;
    interceptor.start();
    await Bun.sleep(30);
    expect(interceptor.active).toBe(false);
    sysctl.values.set(ROUTE_LOCALNET_PATH, "1\n"); // e.g. the node's admin set it
    for (let i = 0; i < 200 && !interceptor.active; i++) await Bun.sleep(5);
    expect(interceptor.active).toBe(true);
    await interceptor.stop();
  });
});

describe("localnet guard (CVE-2020-8558)", () => {
  test("a loopback target gets the guard in filter, jumped to from INPUT, before route_localnet is set", async () => {
    const { iptables, interceptor } = setup();
    expect(await interceptor.reconcileNow()).toBe(true);
    expect(iptables.guard).toEqual(chainLines(LOCALNET_GUARD));
    expect(iptables.guardJumps).toBe(1);
    const order = iptables.calls.map((c) => (c[0] === "sysctl-write" ? "sysctl" : `${c[4]} ${c[5]}`));
    expect(order.lastIndexOf("filter -I")).toBeLessThan(order.indexOf("sysctl"));
    expect(order.indexOf("nat -I")).toBeLessThan(order.indexOf("filter -N"));
  });

  test("a node-address target gets no guard", async () => {
    const { iptables, interceptor } = setup({ target: { ...TARGET, targetIp: "10.0.0.4" } });
    await interceptor.reconcileNow();
    expect(iptables.guard).toBeNull();
    expect(iptables.guardJumps).toBe(0);
  });

  test("a flushed guard is restored on the next reconcile", async () => {
    const { iptables, interceptor } = setup();
    await interceptor.reconcileNow();
    iptables.guard = ["-N aad-metadata-localnet"];
    await interceptor.reconcileNow();
    expect(iptables.guard).toEqual(chainLines(LOCALNET_GUARD));
  });
});

describe("iptables backend", () => {
  const ALL = ["iptables", "iptables-legacy", "iptables-nft", "iptables-legacy-save", "iptables-nft-save"];
  const which = (installed: string[]) => (command: string) =>
    installed.includes(command) ? `/usr/sbin/${command}` : null;
  const legacyNode = () => {
    const iptables = new FakeIptables();
    iptables.command = "iptables-legacy";
    iptables.saves = {
      "iptables-legacy-save": "*nat\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n",
      "iptables-nft-save": "",
    };
    return iptables;
  };

  test("is detected once, logged, and used for every call", async () => {
    const { iptables, log, interceptor } = setup({ detect: { which: which(ALL), iptables: legacyNode() } });
    expect(await interceptor.reconcileNow()).toBe(true);
    expect(await interceptor.reconcileNow()).toBe(true);
    await interceptor.cleanup();
    expect(iptables.calls.filter((c) => c[0]!.endsWith("-save"))).toEqual([
      ["iptables-legacy-save"],
      ["iptables-nft-save"],
    ]);
    const binaries = new Set(iptables.calls.filter((c) => c[4] !== undefined).map((c) => c[0]));
    expect([...binaries]).toEqual(["iptables-legacy"]);
    expect(log.lines).toContain("info using iptables-legacy (legacy holds more rules)");
  });

  test("--cleanup alone detects it too, so it removes the chains where they were installed", async () => {
    const { iptables, interceptor } = setup({ detect: { which: which(ALL), iptables: legacyNode() } });
    iptables.chain = expectedChainLines(TARGET);
    iptables.jumps = 1;
    await interceptor.cleanup();
    expect(iptables.chain).toBeNull();
    expect(iptables.jumps).toBe(0);
  });

  test("plain iptables when only it is installed", async () => {
    const iptables = new FakeIptables();
    const { interceptor } = setup({ detect: { which: which(["iptables"]), iptables } });
    expect(await interceptor.reconcileNow()).toBe(true);
    expect(await interceptor.backend()).toBe("iptables");
    expect(iptables.calls.some((c) => c[0]!.endsWith("-save"))).toBe(false);
  });
});
