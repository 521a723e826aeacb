// `pod-identity wait` as main.ts runs it: real clock, real fetch, lines on stdout/stderr, an exit code.
import { writeSync } from "node:fs";
import type { WaitConfig } from "../config/wait-types.ts";
import { exitCodeFor, outcomeLine } from "./outcome.ts";
import { runWait, type WaitIo } from "./run.ts";

function writeLine(fd: 1 | 2, text: string): void {
  // Synchronous, so the line is out before process.exit.
  writeSync(fd, `${text}\n`);
}

const processIo: WaitIo = {
  fetch: (url, init) => fetch(url, init),
  now: () => performance.now(),
  epochNow: () => Date.now(),
  sleep: (ms) => Bun.sleep(ms),
  announce: (line) => writeLine(1, line),
};

/**
 * Bun's fetch honours HTTP(S)_PROXY from the environment, with no per-request opt-out. Both requests
 * must go out directly: the probe is on this node, and the token request has to cross NMI's
 * interception from the pod's own address, as the application's does.
 */
function connectDirectly(env: Record<string, string | undefined>): void {
  for (const name of ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]) {
    delete env[name];
  }
}

export async function runWaitCommand(config: WaitConfig, io: WaitIo = processIo): Promise<number> {
  if (io === processIo) connectDirectly(process.env);
  const outcome = await runWait(config, io);
  const line = outcomeLine(outcome);
  if (line !== undefined && !(line.stream === "stdout" && config.quiet)) {
    writeLine(line.stream === "stdout" ? 1 : 2, line.text);
  }
  return exitCodeFor(outcome);
}
