// The `wait` sequence: poll NMI's /healthz until Active, then (with --token) fetch a token through the
// metadata address and check whose it is. All I/O comes in through `WaitIo`; decisions live in the
// pure modules next to this one.
import * as v from "valibot";
import { formatGoDuration } from "../config/go-duration.ts";
import type { WaitConfig, WaitTokenCheck } from "../config/wait-types.ts";
import { identityMismatches, tokenIdentity } from "./claims.ts";
import { healthzUrl, judgeHealth } from "./health.ts";
import type { WaitOutcome } from "./outcome.ts";
import { type PollClock, pollUntil, type Step } from "./poll.ts";
import { retryAfterMs } from "./retry-after.ts";
import { judgeTokenResponse } from "./token-response.ts";
import { tokenRequestUrl } from "./token-url.ts";

export interface WaitIo extends PollClock {
  fetch(url: string, init: RequestInit): Promise<Response>;
  /** Wall-clock epoch milliseconds (for Retry-After dates). */
  epochNow(): number;
  /** A progress line for stdout ("Active"); not called with --quiet. */
  announce(line: string): void;
}

// NMI answers its probe at once; a probe that hangs longer is retried rather than waited on.
const probeRequestCapMs = 10_000;

const errorWithCode = v.object({ code: v.string() });
const errorWithName = v.object({ name: v.string() });

function isTimeout(error: unknown): boolean {
  const name = v.safeParse(errorWithName, error);
  return name.success && name.output.name === "TimeoutError";
}

/** One short phrase for a failed request, from what Bun's fetch throws. */
export function describeRequestError(error: unknown, timeoutMs: number): string {
  if (isTimeout(error)) return `no answer within ${formatGoDuration(Math.round(timeoutMs))}`;
  const code = v.safeParse(errorWithCode, error);
  if (code.success) return `connection failed (${code.output.code})`;
  return `connection failed (${error instanceof Error ? error.message : String(error)})`;
}

function failedAttempt(error: unknown, timeoutMs: number, remainingMs: number) {
  return {
    kind: "again",
    observed: describeRequestError(error, timeoutMs),
    cutByDeadline: isTimeout(error) && timeoutMs >= remainingMs,
  } as const;
}

async function probeOnce(io: WaitIo, url: string, remainingMs: number): Promise<Step<true>> {
  const timeoutMs = Math.min(remainingMs, probeRequestCapMs);
  try {
    const response = await io.fetch(url, { redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    const verdict = judgeHealth(response.status, await response.text());
    return verdict.active ? { kind: "done", value: true } : { kind: "again", observed: verdict.observed };
  } catch (error) {
    return failedAttempt(error, timeoutMs, remainingMs);
  }
}

type TokenAttempt = { kind: "token"; accessToken: string } | { kind: "final"; observed: string };

async function requestTokenOnce(io: WaitIo, url: string, remainingMs: number): Promise<Step<TokenAttempt>> {
  try {
    const response = await io.fetch(url, {
      headers: { Metadata: "true" },
      redirect: "manual",
      // NMI may hold the request while MIC assigns the identity; that wait counts against --timeout.
      signal: AbortSignal.timeout(remainingMs),
    });
    const verdict = judgeTokenResponse(response.status, await response.text());
    if (verdict.kind !== "retry") return { kind: "done", value: verdict };
    const serverDelayMs = retryAfterMs(response.headers.get("retry-after"), io.epochNow());
    return { kind: "again", observed: verdict.observed, ...(serverDelayMs !== undefined && { serverDelayMs }) };
  } catch (error) {
    return failedAttempt(error, remainingMs, remainingMs);
  }
}

async function checkToken(io: WaitIo, config: WaitConfig, check: WaitTokenCheck, deadline: number) {
  const url = tokenRequestUrl(check);
  const result = await pollUntil(io, deadline, config.intervalMs, (remaining) => requestTokenOnce(io, url, remaining));
  const { resource } = check;
  if (!result.settled) {
    return { kind: "token-timeout", resource, timeoutMs: config.timeoutMs, lastObserved: result.lastObserved } as const;
  }
  if (result.value.kind === "final")
    return { kind: "token-final-error", resource, observed: result.value.observed } as const;
  const identity = tokenIdentity(result.value.accessToken);
  const expected = {
    ...(check.expectClientId !== undefined && { clientId: check.expectClientId }),
    ...(check.expectObjectId !== undefined && { objectId: check.expectObjectId }),
  };
  const problems = identityMismatches(identity, expected);
  if (problems.length > 0) return { kind: "wrong-identity", resource, problems } as const;
  return { kind: "ready", token: { resource, identity } } as const;
}

export async function runWait(config: WaitConfig, io: WaitIo): Promise<WaitOutcome> {
  const deadline = io.now() + config.timeoutMs;
  const url = healthzUrl(config.nmiHost, config.nmiProbePort);
  const health = await pollUntil(io, deadline, config.intervalMs, (remaining) => probeOnce(io, url, remaining));
  if (!health.settled) {
    return { kind: "not-active", url, timeoutMs: config.timeoutMs, lastObserved: health.lastObserved };
  }
  if (!config.quiet) io.announce("Active");
  if (config.token === undefined) return { kind: "ready" };
  return await checkToken(io, config, config.token, deadline);
}
