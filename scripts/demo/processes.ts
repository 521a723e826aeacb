// The demo's child processes (MIC replicas, NMI): each logs to its own file, and all are stopped by
// pid on exit (SIGTERM, then SIGKILL after a grace period).
import { openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

export interface Child {
  name: string;
  logPath: string;
  process: Subprocess;
  /** Exit code once it has exited. */
  exitCode(): number | null;
  /** The last lines of its log. */
  tail(lines?: number): string;
}

export class Children {
  readonly #all: Child[] = [];
  readonly #logDir: string;
  constructor(logDir: string) {
    this.#logDir = logDir;
  }

  start(name: string, argv: string[], env: Record<string, string | undefined>): Child {
    const logPath = join(this.#logDir, `${name}.log`);
    const fd = openSync(logPath, "a");
    const process = Bun.spawn(argv, { env, stdin: "ignore", stdout: fd, stderr: fd });
    const child: Child = {
      name,
      logPath,
      process,
      exitCode: () => process.exitCode,
      tail(lines = 15) {
        const text = readFileSync(logPath, "utf8").trimEnd();
        return text.split("\n").slice(-lines).join("\n");
      },
    };
    this.#all.push(child);
    return child;
  }

  get all(): readonly Child[] {
    return this.#all;
  }

  /** Children that have exited so far. */
  exited(): Child[] {
    return this.#all.filter((child) => child.exitCode() !== null);
  }

  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all(
      this.#all.map(async (child) => {
        if (child.exitCode() !== null) return;
        child.process.kill("SIGTERM");
        const timer = setTimeout(() => child.process.kill("SIGKILL"), graceMs);
        await child.process.exited;
        clearTimeout(timer);
      }),
    );
  }
}
