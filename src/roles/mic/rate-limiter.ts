// Token bucket for API-server writes (--clientQps, which aad-pod-identity also used as burst), and
// a bounded-parallelism map (--createDeleteBatch).
import type { Clock } from "./clock.ts";

export interface RateLimiter {
  acquire(): Promise<void>;
}

export function tokenBucket(qps: number, burst: number, clock: Clock): RateLimiter {
  if (!(qps > 0)) return { acquire: async () => {} };
  const capacity = Math.max(1, burst);
  let tokens = capacity;
  let last = clock.now();
  let tail: Promise<void> = Promise.resolve();
  const take = async () => {
    const now = clock.now();
    tokens = Math.min(capacity, tokens + ((now - last) * qps) / 1000);
    last = now;
    if (tokens < 1) {
      await clock.sleep(((1 - tokens) * 1000) / qps);
      tokens = Math.min(capacity, tokens + ((clock.now() - last) * qps) / 1000);
      last = clock.now();
    }
    tokens -= 1;
  };
  return {
    acquire() {
      // Serialised so waiters are served in order.
      const next = tail.then(take);
      tail = next.catch(() => {});
      return next;
    },
  };
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order, never rejects. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: "fulfilled", value: await fn(items[index] as T) };
      } catch (reason) {
        results[index] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}
