// The compiled pod-identity binary as NMI for one bench node, against the bench world: token server on
// 127.0.0.1, IMDS at --metadata-ip 127.0.0.1 --metadata-port <emulator or meter>. Times from spawn to
// the first 200 "Active" on /healthz, and reads its resident memory from /proc.
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../emulators/world/free-port.ts";
import type { World } from "../../emulators/world.ts";
import { compiledBinary } from "../../test/support/compiled-binary.ts";
import { BENCH_NODE } from "./nmi-world.ts";

export interface NmiBinary {
  port: number;
  pid: number;
  /** Milliseconds from spawn to /healthz 200 "Active", or NaN when it never got there. */
  activeAfterMs: number;
  logs(): string;
  /** Resident set size from /proc/<pid>/status, in bytes. */
  rssBytes(): number;
  stop(): Promise<void>;
}

export { compiledBinary };

/** Resident set size of a process, from /proc/<pid>/status (VmRSS, kB). */
export function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** The last `bytes` of a file, as text ("" when it does not exist yet). */
function tailOf(path: string, bytes: number): string {
  try {
    const size = statSync(path).size;
    const fd = openSync(path, "r");
    try {
      const buffer = Buffer.alloc(Math.min(size, bytes));
      readSync(fd, buffer, 0, buffer.length, Math.max(0, size - bytes));
      return buffer.toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}

export async function startNmiBinary(
  world: World,
  binary: string,
  options: { metadataPort: number; activeTimeoutMs?: number },
): Promise<NmiBinary> {
  const [port, probePort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  // NMI refuses to start without the kubelet's flags file (kubenet check): an Azure CNI node's.
  const kubeletConfig = join(world.dir, "kubelet");
  writeFileSync(kubeletConfig, "KUBELET_FLAGS=--network-plugin=cni\n");
  const logPath = join(world.dir, `nmi-${port}.log`);
  const started = performance.now();
  const child = Bun.spawn(
    [
      binary,
      "--role",
      "nmi",
      "--node",
      BENCH_NODE,
      "--nmi-port",
      String(port),
      "--metadata-ip",
      "127.0.0.1",
      "--metadata-port",
      String(options.metadataPort),
      "--http-probe-port",
      String(probePort),
      "--prometheus-port",
      String(metricsPort),
      "--kubelet-config",
      kubeletConfig,
    ],
    {
      env: { ...world.processEnv, NODE_NAME: BENCH_NODE, PATH: process.env.PATH ?? "" },
      stdin: "ignore",
      stdout: "ignore",
      // To a file, as a container runtime keeps logs: draining a pipe in this process (NMI writes a line
      // per token request) would take CPU from the server under test on a 2-core machine.
      stderr: Bun.file(logPath),
    },
  );
  const log = () => tailOf(logPath, 8192);
  let activeAfterMs = Number.NaN;
  const deadline = started + (options.activeTimeoutMs ?? 30_000);
  while (performance.now() < deadline && child.exitCode === null) {
    try {
      const response = await fetch(`http://127.0.0.1:${probePort}/healthz`);
      if (response.status === 200 && (await response.text()) === "Active") {
        activeAfterMs = performance.now() - started;
        break;
      }
    } catch {
      // not listening yet
    }
    await Bun.sleep(5);
  }
  if (child.exitCode !== null) {
    await Bun.sleep(50);
    throw new Error(`nmi exited ${child.exitCode}: ${log().slice(-2000)}`);
  }
  return {
    port,
    pid: child.pid,
    activeAfterMs,
    logs: log,
    rssBytes: () => rssOf(child.pid),
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await child.exited;
      clearTimeout(timer);
    },
  };
}
