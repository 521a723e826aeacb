// The demo runs inside its own network and PID namespaces (`unshare`; with a user namespace when not
// root). NMI installs real iptables rules and may set route_localnet: there they land in a throwaway
// namespace instead of the machine's, and the kernel kills anything left behind when the demo exits.
import { readFileSync, readlinkSync } from "node:fs";

const MARKER = "POD_IDENTITY_DEMO_NETNS";

const isRoot = () => process.getuid?.() === 0;

export function insidePrivateNetwork(): boolean {
  return process.env[MARKER] === "root" || process.env[MARKER] === "user";
}

function unshareArgs(): string[] {
  const root = isRoot();
  return [
    "unshare",
    ...(root ? [] : ["--user", "--map-root-user"]),
    "--net",
    "--pid",
    "--fork",
    "--kill-child=SIGTERM",
    "--",
  ];
}

export function canUnshare(): boolean {
  try {
    const probe = Bun.spawnSync([...unshareArgs(), "ip", "link", "set", "lo", "up"], {
      stdout: "ignore",
      stderr: "ignore",
    });
    return probe.exitCode === 0;
  } catch {
    return false;
  }
}

/** The processes unshare forked (the demo's re-run): unshare itself ignores SIGINT and SIGTERM while it waits. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter((text) => /^\d+$/.test(text))
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Re-runs this script inside private namespaces and returns its exit code, or undefined when that is not
 * possible here (no unshare / namespaces not permitted): the caller then runs in place.
 */
export async function runInPrivateNetwork(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<number | undefined> {
  if (insidePrivateNetwork() || !canUnshare()) return undefined;
  const child = Bun.spawn(
    [...unshareArgs(), "sh", "-c", 'ip link set lo up && exec "$@"', "sh", process.execPath, script, ...args],
    {
      stdio: ["inherit", "inherit", "inherit"],
      env: { ...process.env, ...env, [MARKER]: isRoot() ? "root" : "user" },
    },
  );
  const forward = (signal: NodeJS.Signals) => () => {
    for (const pid of childrenOf(child.pid)) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  };
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  return child.exited;
}

/** How to run a command (e.g. kubectl) in the demo's network namespace from another shell. */
export function nsenterPrefix(): string {
  // /proc is the host's (no --mount-proc), so /proc/self names this process's host PID.
  const hostPid = readlinkSync("/proc/self");
  return process.env[MARKER] === "root"
    ? `nsenter --target ${hostPid} --net`
    : `nsenter --target ${hostPid} --user --net --preserve-credentials`;
}
