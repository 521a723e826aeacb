// When to call ARM again for one target. Pure: the caller supplies the clock and the randomness.
// - Retry-After (429) is a hard "not before" for that target only (§4.6: it used to block every call).
// - 5xx and network errors back off exponentially with full jitter, capped.
// - Identities ARM refused (LinkedAuthorizationFailed / FailedIdentityOperation) back off per identity,
//   so they are retried on their own schedule instead of only on the next hourly tick (§9.20).

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1_000, maxMs: 5 * 60_000 };

/**
 * Delay before retry number `attempt` (1 = first retry): base·2^(attempt-1), capped at maxMs, then
 * jittered into [half, full] so that many targets failing together do not retry together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (ceiling / 2) * Math.min(Math.max(random(), 0), 1));
}

/** Retry bookkeeping of one target (VM / VMSS). */
export interface TargetRetryState {
  /** No ARM call to this target before this time (epoch ms). */
  notBefore: number;
  /** Consecutive transient failures (5xx, network). */
  failures: number;
}

export function initialRetryState(): TargetRetryState {
  return { notBefore: 0, failures: 0 };
}

export function afterThrottle(state: TargetRetryState, now: number, retryAfterMs: number): TargetRetryState {
  return { ...state, notBefore: Math.max(state.notBefore, now + Math.max(0, retryAfterMs)) };
}

export function afterTransientFailure(
  state: TargetRetryState,
  now: number,
  options: BackoffOptions,
  random: () => number,
): TargetRetryState {
  const failures = state.failures + 1;
  return { failures, notBefore: Math.max(state.notBefore, now + backoffDelay(failures, options, random)) };
}

export function afterSuccess(state: TargetRetryState): TargetRetryState {
  return { ...state, failures: 0 };
}

export function mayCall(state: TargetRetryState, now: number): boolean {
  return now >= state.notBefore;
}

/** Backoff of one identity that ARM refused on one target. */
export interface IdentityBackoff {
  attempts: number;
  until: number;
  code: string;
  message: string;
}

export function afterIdentityFailure(
  previous: IdentityBackoff | undefined,
  now: number,
  failure: { code: string; message: string },
  options: BackoffOptions,
  random: () => number,
): IdentityBackoff {
  const attempts = (previous?.attempts ?? 0) + 1;
  return { attempts, until: now + backoffDelay(attempts, options, random), ...failure };
}
