// NMI's node agent from the sources (the real Interceptor and token server, with no pods or identities)
// run by bun inside a network namespace, for e2e tests of the interception itself: which rules it
// installs where, and what they let through. Its interceptor log lines are printed as
// `LOG <level> <message> <fields>`, `READY` once Active (or `NOT-ACTIVE <error>` after a failed cycle),
// `CLEANED` after `--cleanup` (NMI_CLEANUP=1). SIGTERM stops it and keeps the rules, as NMI does.
import { resolve } from "node:path";
import { LineProcess } from "./line-process.ts";

const ROOT = resolve(import.meta.dir, "../../..");

const SCRIPT = `
import { startNodeAgent, cleanupInterception, handleShutdownSignals } from "${ROOT}/src/roles/nmi/node-agent.ts";
import { InMemoryPods, InMemoryExceptions } from "${ROOT}/src/roles/nmi/in-memory-ports.ts";
import { createImdsProxy } from "${ROOT}/src/roles/nmi/imds-proxy.ts";
const line = (level) => (fields, message) => console.error("LOG " + level + " " + message + " " + JSON.stringify(fields));
const log = { info: line("info"), warn: line("warn"), error: line("error") };
const options = { listenAddress: "127.0.0.1", port: 2579, probePort: null, metadataIp: "169.254.169.254",
  metadataPort: 80, iptUpdateIntervalMs: 300, enableConntrackDeletion: false, log };
if (process.env.NMI_CLEANUP === "1") {
  await cleanupInterception(options);
  console.error("CLEANED");
  process.exit(0);
}
const unused = async () => { throw new Error("no identities in this test"); };
const agent = await startNodeAgent(options, {
  config: { metadataHeaderRequired: true, blockInstanceMetadata: false, setRetryAfterHeader: false, micNamespace: "default", maxHeaderBytes: 16384 },
  pods: new InMemoryPods(), exceptions: new InMemoryExceptions(), resolveIdentity: unused,
  tokens: { forIdentity: unused, forExceptedPod: unused },
  proxy: createImdsProxy({ metadataIp: "169.254.169.254", metadataPort: 80 }),
}, Promise.resolve());
let reported = false;
while (!agent.readiness.active) {
  if (!reported && agent.interceptor.lastError) {
    console.error("NOT-ACTIVE " + agent.interceptor.lastError.message);
    reported = true;
  }
  await Bun.sleep(20);
}
console.error("READY");
handleShutdownSignals(agent, async () => false, (code) => process.exit(code));
`;

export function startAgentInNetns(netns: string, env: Record<string, string> = {}): LineProcess {
  return new LineProcess(["ip", "netns", "exec", netns, process.execPath, "-e", SCRIPT], {
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/tmp", ...env },
    cwd: ROOT,
  });
}
