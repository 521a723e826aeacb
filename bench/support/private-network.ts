// The NMI bench runs in its own network namespace when it can (root and `unshare`): the binary installs
// real iptables rules and sets route_localnet, which must land in a throwaway namespace, never the
// machine's. Only --net (no PID namespace), so /proc/<pid> of the processes it starts stays readable.
const MARKER = "POD_IDENTITY_BENCH_NETNS";

export function insidePrivateNetwork(): boolean {
  return process.env[MARKER] === "1";
}

const isRoot = () => process.getuid?.() === 0;
const unshareArgs = ["unshare", "--net", "--fork", "--kill-child=SIGTERM", "--"];

function canUnshare(): boolean {
  if (!isRoot()) return false;
  try {
    return Bun.spawnSync([...unshareArgs, "ip", "link", "set", "lo", "up"], { stdout: "ignore", stderr: "ignore" })
      .success;
  } catch {
    return false;
  }
}

/** Re-runs `script` in a private network namespace; undefined when that is not possible (run in place). */
export async function rerunInPrivateNetwork(script: string, args: string[]): Promise<number | undefined> {
  if (insidePrivateNetwork() || !canUnshare()) return undefined;
  const child = Bun.spawn(
    [...unshareArgs, "sh", "-c", 'ip link set lo up && exec "$@"', "sh", process.execPath, script, ...args],
    { stdio: ["inherit", "inherit", "inherit"], env: { ...process.env, [MARKER]: "1" } },
  );
  return child.exited;
}
