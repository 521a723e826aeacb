// The iptables shell: picks the node's iptables backend once, applies the plans from iptables-rules.ts
// with `<iptables> -w 5 -t <table> ...`, sets and verifies route_localnet for a loopback target,
// optionally clears conntrack entries to IMDS, and keeps reconciling. Failures are retried with backoff
// and reported (inactive, log, metric), never fatal.
//
// Fail closed: stop() only stops the loop and leaves the rules, so while NMI is down pod traffic to
// IMDS is DNATed to a port nobody listens on and is refused; the next NMI adopts the same rules without
// a gap. Only cleanup() (uninstall, `--cleanup`) removes them. The rules go in before route_localnet is
// touched: if the sysctl cannot be set, DNATed packets to 127.0.0.1 are martian and dropped, so pods are
// blocked, never passed to IMDS.
import {
  type BackendChoice,
  chooseBackend,
  type IptablesCommand,
  VARIANT_BINARIES,
  variantsInstalled,
} from "./iptables-backend.ts";
import {
  actionArgs,
  CHAIN,
  type ChainSpec,
  desiredChains,
  type InterceptionTarget,
  needsRouteLocalnet,
  OWNED_CHAINS,
  planChain,
  REFLUSH_MESSAGE,
} from "./iptables-rules.ts";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  run(argv: readonly string[]): Promise<CommandResult>;
}

export const spawnRunner: CommandRunner = {
  async run(argv) {
    try {
      const child = Bun.spawn([...argv], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      const [stdout, stderr, code] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.exited,
      ]);
      return { code, stdout, stderr };
    } catch (error) {
      // A missing binary is a failed command, not a crash.
      return { code: 127, stdout: "", stderr: error instanceof Error ? error.message : String(error) };
    }
  },
};

/** Reads and writes /proc/sys values (injected so unit tests need no root). */
export interface SysctlAccess {
  read(path: string): Promise<string>;
  write(path: string, value: string): Promise<void>;
}

export const procSysctl: SysctlAccess = {
  read: (path) => Bun.file(path).text(),
  async write(path, value) {
    await Bun.write(path, value);
  },
};

export const ROUTE_LOCALNET_PATH = "/proc/sys/net/ipv4/conf/all/route_localnet";

/** Logged once when route_localnet cannot be set: what the operator can do about it. */
export const ROUTE_LOCALNET_ADVICE =
  "cannot set net.ipv4.conf.all.route_localnet=1: pod traffic to the metadata address is DNATed to 127.0.0.1 " +
  "and dropped by the kernel, so pods are blocked (not exposed) and NMI stays Not Active. Set " +
  "net.ipv4.conf.all.route_localnet=1 on the node (kube-proxy in iptables mode does), or pass " +
  "--nmi-listen-address=<node IP> so the DNAT target is that address";

/** Finds a command on PATH (Bun.which); injected so unit tests see the binaries they choose. */
export type Which = (command: string) => string | null;

/** The iptables backend the node uses (see iptables-backend.ts): saves listed once, nothing changed. */
export async function detectIptablesBackend(
  runner: CommandRunner,
  which: Which = (command) => Bun.which(command),
): Promise<BackendChoice> {
  if (
    !variantsInstalled(
      which("iptables"),
      VARIANT_BINARIES.map((name) => which(name)),
    )
  ) {
    return chooseBackend({ variantsInstalled: false });
  }
  const save = async (command: string) => {
    const result = await runner.run([command]);
    return { ok: result.code === 0, output: result.stdout };
  };
  const legacy = await save("iptables-legacy-save");
  const nft = await save("iptables-nft-save");
  return chooseBackend({ variantsInstalled: true, legacy, nft });
}

export interface InterceptorLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface InterceptorOptions {
  target: InterceptionTarget;
  /** --ipt-update-interval-sec, in ms. */
  intervalMs: number;
  /** --enable-conntrack-deletion */
  enableConntrackDeletion: boolean;
  runner?: CommandRunner;
  sysctl?: SysctlAccess;
  log?: InterceptorLogger;
  /** The iptables binary to run; detected from the node's rules on first use when absent. */
  backend?: IptablesCommand;
  which?: Which;
  /** Reports each reconcile's outcome (true: rules verified in place); `error` only for a failure. */
  onStatus?: (active: boolean, error?: Error) => void;
  /** First and largest retry delay after a failure. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export class IptablesError extends Error {
  readonly code = "IPTABLES_FAILED";
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
  ) {
    super(`${argv.join(" ")} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

export class RouteLocalnetError extends Error {
  readonly code = "ROUTE_LOCALNET_FAILED";
}

const silent: InterceptorLogger = { info() {}, warn() {}, error() {} };

const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

export class Interceptor {
  readonly #options: InterceptorOptions;
  readonly #runner: CommandRunner;
  readonly #sysctl: SysctlAccess;
  readonly #log: InterceptorLogger;
  #command: IptablesCommand | null;
  #active = false;
  #conntrackCleared = false;
  #routeLocalnetAdvised = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running = false;
  #failures = 0;
  #lastError: Error | undefined;
  #cycle: Promise<void> | null = null;

  constructor(options: InterceptorOptions) {
    this.#options = options;
    this.#runner = options.runner ?? spawnRunner;
    this.#sysctl = options.sysctl ?? procSysctl;
    this.#log = options.log ?? silent;
    this.#command = options.backend ?? null;
  }

  /** True once the rules (and route_localnet, if needed) were last verified in place. */
  get active(): boolean {
    return this.#active;
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** The iptables binary in use; detected once, on the first reconcile or cleanup. */
  async backend(): Promise<IptablesCommand> {
    if (this.#command) return this.#command;
    const choice = await detectIptablesBackend(this.#runner, this.#options.which);
    this.#log.info(
      { backend: choice.command, reason: choice.reason, legacyRules: choice.legacyRules, nftRules: choice.nftRules },
      `using ${choice.command} (${choice.reason})`,
    );
    this.#command ??= choice.command;
    return this.#command;
  }

  async #argv(table: string, args: readonly string[]): Promise<string[]> {
    return [await this.backend(), "-w", "5", "-t", table, ...args];
  }

  async #iptables(table: string, args: readonly string[]): Promise<CommandResult> {
    const argv = await this.#argv(table, args);
    const result = await this.#runner.run(argv);
    if (result.code !== 0) throw new IptablesError(argv, result);
    return result;
  }

  async #probe(table: string, args: readonly string[]): Promise<CommandResult> {
    return this.#runner.run(await this.#argv(table, args));
  }

  async #reconcileChain(spec: ChainSpec): Promise<void> {
    const listing = await this.#probe(spec.table, ["-S", spec.chain]);
    const jump = await this.#probe(spec.table, ["-C", spec.jumpFrom, "-j", spec.chain]);
    const plan = planChain(
      { chainListing: listing.code === 0 ? listing.stdout : null, jumpPresent: jump.code === 0 },
      spec,
    );
    if (plan.rewritesChain && listing.code === 0) {
      this.#log.warn(
        { table: spec.table, chain: spec.chain },
        spec.chain === CHAIN ? REFLUSH_MESSAGE : `rewriting ${spec.chain}`,
      );
    }
    for (const action of plan.actions) await this.#iptables(spec.table, actionArgs(action, spec));
    if (plan.actions.length > 0) {
      this.#log.info(
        { table: spec.table, chain: spec.chain, actions: plan.actions.map((a) => a.kind) },
        "iptables reconciled",
      );
    }
  }

  async #ensureRouteLocalnet(): Promise<void> {
    if (!needsRouteLocalnet(this.#options.target.targetIp)) return;
    try {
      const current = (await this.#sysctl.read(ROUTE_LOCALNET_PATH)).trim();
      if (current === "1") return;
      await this.#sysctl.write(ROUTE_LOCALNET_PATH, "1");
      const verified = (await this.#sysctl.read(ROUTE_LOCALNET_PATH)).trim();
      if (verified !== "1") throw new Error(`${ROUTE_LOCALNET_PATH} is ${verified} after writing 1`);
    } catch (error) {
      throw new RouteLocalnetError(`route_localnet: ${asError(error).message}`);
    }
    this.#log.info({ path: ROUTE_LOCALNET_PATH }, "set route_localnet=1 so DNAT to 127.0.0.1 reaches NMI");
  }

  async #clearConntrack(): Promise<void> {
    const t = this.#options.target;
    const argv = [
      "conntrack",
      "-D",
      "-p",
      "tcp",
      "--orig-dst",
      t.metadataIp,
      "--orig-port-dst",
      String(t.metadataPort),
    ];
    const result = await this.#runner.run(argv);
    // conntrack exits 1 when nothing matched ("0 flow entries have been deleted").
    if (result.code !== 0 && !/0 flow entries/.test(result.stderr)) throw new IptablesError(argv, result);
    this.#log.info({ output: result.stderr.trim() }, "cleared conntrack entries to the metadata address");
  }

  /**
   * One reconciliation: the nat chain and its jump, the localnet guard (loopback target), then
   * route_localnet, then (once) conntrack. A route_localnet failure does not stop the rest: the rules
   * stay and block pods, and the cycle reports failure.
   */
  async reconcileOnce(): Promise<void> {
    for (const spec of desiredChains(this.#options.target)) await this.#reconcileChain(spec);
    let sysctlError: RouteLocalnetError | null = null;
    try {
      await this.#ensureRouteLocalnet();
      this.#routeLocalnetAdvised = false;
    } catch (error) {
      sysctlError = error as RouteLocalnetError;
      if (!this.#routeLocalnetAdvised) this.#log.error({ err: sysctlError.message }, ROUTE_LOCALNET_ADVICE);
      this.#routeLocalnetAdvised = true;
    }
    // Also without route_localnet: flows opened before the rules then hit the DNAT and are dropped.
    if (this.#options.enableConntrackDeletion && !this.#conntrackCleared) {
      await this.#clearConntrack();
      this.#conntrackCleared = true;
    }
    if (sysctlError) throw sysctlError;
  }

  /** Reconciles now and then every interval; after a failure retries sooner, with backoff. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  /** Runs one cycle now (e.g. for tests or after a known disturbance) and reports its outcome. */
  async reconcileNow(): Promise<boolean> {
    while (this.#cycle) await this.#cycle;
    this.#cycle = this.#runCycle();
    try {
      await this.#cycle;
    } finally {
      this.#cycle = null;
    }
    return this.#active;
  }

  async #runCycle(): Promise<void> {
    try {
      await this.reconcileOnce();
      this.#failures = 0;
      this.#lastError = undefined;
      this.#setActive(true);
    } catch (error) {
      this.#failures++;
      this.#lastError = asError(error);
      this.#log.error({ err: this.#lastError.message, failures: this.#failures }, "iptables reconcile failed");
      this.#setActive(false, this.#lastError);
    }
  }

  #setActive(active: boolean, error?: Error): void {
    this.#active = active;
    this.#options.onStatus?.(active, error);
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(async () => {
      this.#timer = null;
      await this.reconcileNow();
      if (!this.#running) return;
      const initial = this.#options.backoffInitialMs ?? 1000;
      const max = Math.min(this.#options.backoffMaxMs ?? 30_000, this.#options.intervalMs);
      const delay =
        this.#failures === 0 ? this.#options.intervalMs : Math.min(max, initial * 2 ** (this.#failures - 1));
      this.#schedule(delay);
    }, delayMs);
  }

  /** Stops reconciling and KEEPS the rules (fail closed across restarts and rolling updates). */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    while (this.#cycle) await this.#cycle;
  }

  /**
   * Uninstall: for each chain NMI owns (nat interception, filter guard), removes every jump to it, then
   * flushes and deletes it. Absent pieces are fine; any other failure is thrown after trying every step.
   * route_localnet is left as it is: kube-proxy or others may rely on it.
   */
  async cleanup(): Promise<void> {
    await this.stop();
    const failures: string[] = [];
    for (const { table, chain, jumpFrom } of OWNED_CHAINS) {
      // Several jumps may exist (e.g. inserted by older versions); delete until none is left.
      for (let i = 0; i < 100; i++) {
        const check = await this.#probe(table, ["-C", jumpFrom, "-j", chain]);
        if (check.code !== 0) break;
        const removed = await this.#probe(table, ["-D", jumpFrom, "-j", chain]);
        if (removed.code !== 0) {
          failures.push(removed.stderr.trim());
          break;
        }
      }
      const exists = await this.#probe(table, ["-S", chain]);
      if (exists.code === 0) {
        for (const args of [
          ["-F", chain],
          ["-X", chain],
        ]) {
          const result = await this.#probe(table, args);
          if (result.code !== 0) failures.push(result.stderr.trim());
        }
      }
    }
    const error = failures.length > 0 ? new Error(`iptables cleanup incomplete: ${failures.join("; ")}`) : undefined;
    this.#setActive(false, error);
    if (error) throw error;
    this.#log.info({ chains: OWNED_CHAINS.map((c) => c.chain) }, "removed the IMDS interception");
  }
}

/** What to do on SIGTERM: keep the rules unless NMI itself is being uninstalled. */
export function shutdownAction(uninstalling: boolean): "cleanup" | "keep-rules" {
  return uninstalling ? "cleanup" : "keep-rules";
}
