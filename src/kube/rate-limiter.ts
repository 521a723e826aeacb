// Client-side rate limiting of API-server requests, as client-go does with QPS/Burst (MIC's
// --clientQps sets both). A token bucket: `burst` requests may go at once, then one per 1/qps s.
// Waiters reserve a token up front (the bucket may go negative), so they are served in call order.

export interface RateLimit {
  /** Sustained requests per second; <= 0 or Infinity disables limiting. */
  qps: number;
  /** Requests allowed at once after an idle period; defaults to max(1, ceil(qps)). */
  burst?: number;
}

export interface BucketState {
  /** Tokens available; negative while callers are waiting for reserved tokens. */
  tokens: number;
  /** Clock reading (ms) at which `tokens` was computed. */
  updatedAt: number;
}

export function initialBucket(limit: RateLimit, now: number): BucketState {
  return { tokens: burstOf(limit), updatedAt: now };
}

function burstOf(limit: RateLimit): number {
  return Math.max(1, Math.floor(limit.burst ?? Math.ceil(limit.qps)));
}

/** Takes one token at `now`; returns the new state and how long the caller must wait before sending. */
export function reserveToken(
  state: BucketState,
  now: number,
  limit: RateLimit,
): { state: BucketState; waitMs: number } {
  if (!isLimited(limit)) return { state, waitMs: 0 };
  const elapsed = Math.max(0, now - state.updatedAt);
  const refilled = Math.min(burstOf(limit), state.tokens + (elapsed * limit.qps) / 1000);
  const tokens = refilled - 1;
  const waitMs = tokens >= 0 ? 0 : (-tokens * 1000) / limit.qps;
  return { state: { tokens, updatedAt: Math.max(now, state.updatedAt) }, waitMs };
}

export function isLimited(limit: RateLimit): boolean {
  return limit.qps > 0 && Number.isFinite(limit.qps);
}

export class RateLimiter {
  private state: BucketState;

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {
    this.state = initialBucket(limit, now());
  }

  /** Resolves when the caller may send one request; rejects if `signal` aborts first. */
  async acquire(signal?: AbortSignal): Promise<void> {
    const { state, waitMs } = reserveToken(this.state, this.now(), this.limit);
    this.state = state;
    if (waitMs <= 0) return;
    await abortableSleep(waitMs, signal);
  }
}

/** Sleeps `ms`; rejects with the signal's reason when aborted. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
