// The token server's idle timeout: longer than the longest legitimate hold of a request (assignment
// budget + pod lookup + margin), capped by Bun's 255 s, and 0 (never reap) only past that cap.
import { describe, expect, test } from "bun:test";
import { parseCommandLine } from "../../src/config/index.ts";
import type { NmiConfig } from "../../src/config/types.ts";
import {
  BUN_MAX_IDLE_TIMEOUT_S,
  IDLE_TIMEOUT_MARGIN_MS,
  idleTimeoutSeconds,
  longestRequestWaitMs,
} from "../../src/roles/nmi/server.ts";
import { assignmentBudgetMs } from "../../src/roles/nmi/wiring/run-nmi.ts";

function nmiConfig(args: string[]): NmiConfig {
  const outcome = parseCommandLine(["--role", "nmi", "--node", "n1", ...args], {}, { hostname: "h" });
  if (!outcome.ok || outcome.command.kind !== "run") throw new Error(JSON.stringify(outcome));
  return outcome.command.config as NmiConfig;
}

describe("NMI server idle timeout", () => {
  test("the default flags give (16 + 4) × 5 s + 1.2 s pod lookup + margin, rounded up", () => {
    const config = nmiConfig([]);
    expect(assignmentBudgetMs(config)).toBe(100_000);
    const longest = longestRequestWaitMs({ assignmentBudgetMs: assignmentBudgetMs(config) });
    expect(longest).toBe(101_200);
    expect(idleTimeoutSeconds(longest)).toBe(Math.ceil((101_200 + IDLE_TIMEOUT_MARGIN_MS) / 1000));
    expect(idleTimeoutSeconds(longest)).toBeGreaterThan(100);
    expect(idleTimeoutSeconds(longest)).toBeLessThanOrEqual(BUN_MAX_IDLE_TIMEOUT_S);
  });

  test("the budget follows the flags", () => {
    const config = nmiConfig([
      "--retry-attempts-for-created",
      "2",
      "--retry-attempts-for-assigned",
      "8",
      "--find-identity-retry-interval",
      "1",
    ]);
    expect(assignmentBudgetMs(config)).toBe(10_000);
    expect(idleTimeoutSeconds(longestRequestWaitMs({ assignmentBudgetMs: 10_000, podLookupWaitMs: 1200 }))).toBe(27);
  });

  test("always longer than the wait it must not cut", () => {
    for (const waitMs of [0, 1, 999, 1000, 10_000, 100_000, 239_999]) {
      expect(idleTimeoutSeconds(waitMs) * 1000).toBeGreaterThan(waitMs);
    }
  });

  test("a budget past Bun's 255 s cap disables the timeout (0) rather than cutting waits", () => {
    expect(idleTimeoutSeconds(BUN_MAX_IDLE_TIMEOUT_S * 1000 - IDLE_TIMEOUT_MARGIN_MS)).toBe(BUN_MAX_IDLE_TIMEOUT_S);
    expect(idleTimeoutSeconds(BUN_MAX_IDLE_TIMEOUT_S * 1000 - IDLE_TIMEOUT_MARGIN_MS + 1)).toBe(0);
    const long = nmiConfig(["--retry-attempts-for-created", "60", "--retry-attempts-for-assigned", "20"]);
    expect(idleTimeoutSeconds(longestRequestWaitMs({ assignmentBudgetMs: assignmentBudgetMs(long) }))).toBe(0);
  });
});
