// `--role nmi --cleanup` removes the interception and does nothing else: it runs before (and so never
// fails on) the kubenet check. The iptables runner is a fake: the host's rules are never touched.
import { expect, test } from "bun:test";
import { parseCommandLine } from "../../src/config/index.ts";
import type { NmiConfig } from "../../src/config/types.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createMetricsRegistry } from "../../src/observability/metrics.ts";
import type { CommandRunner } from "../../src/roles/nmi/iptables.ts";
import { KUBENET_REFUSAL } from "../../src/roles/nmi/kubenet.ts";
import { runNmi } from "../../src/roles/nmi/wiring/run-nmi.ts";

function context() {
  const lines: string[] = [];
  const logger = createLogger({ format: "json", verbosity: 0, destination: { write: (line) => lines.push(line) } });
  return { ctx: { logger, metrics: createMetricsRegistry(), signal: new AbortController().signal }, lines };
}

/** A runner with no aad-metadata chain and no jump in place: every check fails, nothing else is run. */
function fakeIptables() {
  const calls: string[][] = [];
  const runner: CommandRunner = {
    async run(argv) {
      calls.push([...argv]);
      return { code: 1, stdout: "", stderr: "iptables: No chain/target/match by that name." };
    },
  };
  return { runner, calls };
}

function cleanupConfig(kubeletConfig: string, extra: string[] = []): NmiConfig {
  const outcome = parseCommandLine(
    ["--role", "nmi", "--cleanup", "--kubelet-config", kubeletConfig, ...extra],
    {},
    { hostname: "h" },
  );
  if (!outcome.ok || outcome.command.kind !== "run") throw new Error(JSON.stringify(outcome));
  return outcome.command.config as NmiConfig;
}

test("--cleanup with an unreadable --kubelet-config removes the interception instead of failing the kubenet check", async () => {
  const { ctx, lines } = context();
  const { runner, calls } = fakeIptables();
  const code = await runNmi(cleanupConfig("/nonexistent/kubelet-defaults"), ctx, { iptablesRunner: runner });
  const log = lines.join("");
  expect(log).not.toContain("failed to read kubelet config");
  expect(log).toContain("--cleanup");
  expect(code).toBe(0);
  expect(calls.length).toBeGreaterThan(0);
  expect(calls.every((argv) => argv[0]?.startsWith("iptables"))).toBe(true);
});

test("--cleanup on a kubenet node still cleans up", async () => {
  const path = `${process.env.TMPDIR ?? "/tmp"}/nmi-kubelet-${crypto.randomUUID()}`;
  await Bun.write(path, "KUBELET_FLAGS=--network-plugin=kubenet\n");
  const { ctx, lines } = context();
  const { runner } = fakeIptables();
  const code = await runNmi(cleanupConfig(path), ctx, { iptablesRunner: runner });
  expect(lines.join("")).not.toContain(KUBENET_REFUSAL.slice(0, 40));
  expect(code).toBe(0);
});
