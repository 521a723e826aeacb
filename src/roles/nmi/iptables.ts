// The iptables shell: applies the plan from iptables-rules.ts with `iptables -w 5 -t nat ...`, sets and
// verifies route_localnet for a loopback target, optionally clears conntrack entries to IMDS, and keeps
// reconciling. Failures are retried with backoff and reported (inactive, log, metric), never fatal.
//
// Fail closed: stop() only stops the loop and leaves the rules, so while NMI is down pod traffic to
// IMDS is DNATed to a port nobody listens on and is refused; the next NMI adopts the same rules without
// a gap. Only cleanup() (uninstall, `--cleanup`) removes them.
import {
  actionArgs,
  CHAIN,
  type InterceptionTarget,
  JUMP_FROM,
  NAT_TABLE,
  needsRouteLocalnet,
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
  /** Reports each reconcile's outcome (true: rules verified in place). */
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

const silent: InterceptorLogger = { info() {}, warn() {}, error() {} };

export class Interceptor {
  readonly #options: InterceptorOptions;
  readonly #runner: CommandRunner;
  readonly #sysctl: SysctlAccess;
  readonly #log: InterceptorLogger;
  #active = false;
  #conntrackCleared = false;
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
  }

  /** True once the rules (and route_localnet, if needed) were last verified in place. */
  get active(): boolean {
    return this.#active;
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  async #iptables(args: readonly string[]): Promise<CommandResult> {
    const argv = ["iptables", "-w", "5", "-t", NAT_TABLE, ...args];
    const result = await this.#runner.run(argv);
    if (result.code !== 0) throw new IptablesError(argv, result);
    return result;
  }

  async #probe(args: readonly string[]): Promise<CommandResult> {
    return this.#runner.run(["iptables", "-w", "5", "-t", NAT_TABLE, ...args]);
  }

  async #ensureRouteLocalnet(): Promise<void> {
    if (!needsRouteLocalnet(this.#options.target.targetIp)) return;
    const current = (await this.#sysctl.read(ROUTE_LOCALNET_PATH)).trim();
    if (current === "1") return;
    await this.#sysctl.write(ROUTE_LOCALNET_PATH, "1");
    const verified = (await this.#sysctl.read(ROUTE_LOCALNET_PATH)).trim();
    if (verified !== "1") throw new Error(`${ROUTE_LOCALNET_PATH} is ${verified} after writing 1`);
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

  /** One reconciliation: route_localnet, chain contents, PREROUTING jump, then (once) conntrack. */
  async reconcileOnce(): Promise<void> {
    await this.#ensureRouteLocalnet();
    const listing = await this.#probe(["-S", CHAIN]);
    const jump = await this.#probe(["-C", JUMP_FROM, "-j", CHAIN]);
    const plan = planChain(
      { chainListing: listing.code === 0 ? listing.stdout : null, jumpPresent: jump.code === 0 },
      this.#options.target,
    );
    if (plan.rewritesChain && listing.code === 0) this.#log.warn({ chain: CHAIN }, REFLUSH_MESSAGE);
    for (const action of plan.actions) await this.#iptables(actionArgs(action));
    if (plan.actions.length > 0) this.#log.info({ actions: plan.actions.map((a) => a.kind) }, "iptables reconciled");
    if (this.#options.enableConntrackDeletion && !this.#conntrackCleared) {
      await this.#clearConntrack();
      this.#conntrackCleared = true;
    }
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
      this.#lastError = error instanceof Error ? error : new Error(String(error));
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
   * Uninstall: removes every PREROUTING jump, then flushes and deletes the chain. Absent pieces are
   * fine; any other failure is thrown after trying every step.
   */
  async cleanup(): Promise<void> {
    await this.stop();
    const failures: string[] = [];
    // Several jumps may exist (e.g. inserted by older versions); delete until none is left.
    for (let i = 0; i < 100; i++) {
      const check = await this.#probe(["-C", JUMP_FROM, "-j", CHAIN]);
      if (check.code !== 0) break;
      const removed = await this.#probe(["-D", JUMP_FROM, "-j", CHAIN]);
      if (removed.code !== 0) {
        failures.push(removed.stderr.trim());
        break;
      }
    }
    const exists = await this.#probe(["-S", CHAIN]);
    if (exists.code === 0) {
      for (const args of [
        ["-F", CHAIN],
        ["-X", CHAIN],
      ]) {
        const result = await this.#probe(args);
        if (result.code !== 0) failures.push(result.stderr.trim());
      }
    }
    this.#setActive(false);
    if (failures.length > 0) throw new Error(`iptables cleanup incomplete: ${failures.join("; ")}`);
    this.#log.info({ chain: CHAIN }, "removed the IMDS interception");
  }
}

/** What to do on SIGTERM: keep the rules unless NMI itself is being uninstalled. */
export function shutdownAction(uninstalling: boolean): "cleanup" | "keep-rules" {
  return uninstalling ? "cleanup" : "keep-rules";
}
