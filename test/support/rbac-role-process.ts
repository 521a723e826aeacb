// Starts the compiled pod-identity binary in one role against an emulated world, for the RBAC test:
// the role's arguments come from the rendered chart (so the test runs what the chart deploys), with the
// cluster-specific paths and ports replaced by the world's.
import { freePort } from "../../emulators/world/free-port.ts";
import type { World } from "../../emulators/world.ts";
import type { K8sObject } from "./helm-render.ts";

export interface RoleProcess {
  healthPort: number;
  logs(): string;
  health(): Promise<string | undefined>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number>;
}

/** The main container's args of a rendered Deployment / DaemonSet, `$(VAR)` expanded from `vars`. */
export function renderedArgs(workload: K8sObject | undefined, vars: Record<string, string> = {}): string[] {
  const container = workload?.spec?.template?.spec.containers[0];
  if (!container) throw new Error("no workload rendered");
  return (container.args ?? []).map((arg) => arg.replace(/\$\(([A-Z_]+)\)/g, (whole, name) => vars[name] ?? whole));
}

/** Drops `--flag=...` / `--flag` entries whose name is in `names` (the test sets them itself). */
export function withoutFlags(args: string[], names: string[]): string[] {
  return args.filter((arg) => !names.some((name) => arg === `--${name}` || arg.startsWith(`--${name}=`)));
}

export async function startRole(
  world: World,
  binary: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<RoleProcess> {
  const healthPort = await freePort();
  const child = Bun.spawn([binary, ...args, `--http-probe-port=${healthPort}`], {
    env: { ...world.processEnv, PATH: process.env.PATH ?? "", ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let log = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) log += decoder.decode(chunk);
  })();
  return {
    healthPort,
    logs: () => log,
    async health() {
      try {
        const response = await fetch(`http://127.0.0.1:${healthPort}/healthz`, { signal: AbortSignal.timeout(2000) });
        return await response.text();
      } catch {
        return undefined;
      }
    },
    async stop() {
      child.kill("SIGTERM");
      return child.exited;
    },
  };
}
