import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { initialBucket, RateLimiter, reserveToken } from "../../src/kube/rate-limiter.ts";

describe("reserveToken (token bucket)", () => {
  test("a full bucket lets `burst` requests through at once, then spaces them 1/qps apart", () => {
    const limit = { qps: 5, burst: 5 };
    let state = initialBucket(limit, 0);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = reserveToken(state, 0, limit);
      state = r.state;
      waits.push(r.waitMs);
    }
    expect(waits.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(waits[5]).toBeCloseTo(200);
    expect(waits[6]).toBeCloseTo(400);
    expect(waits[7]).toBeCloseTo(600);
  });

  test("tokens refill at qps and never beyond burst", () => {
    const limit = { qps: 2, burst: 3 };
    let state = initialBucket(limit, 0);
    for (let i = 0; i < 3; i++) state = reserveToken(state, 0, limit).state;
    // After 1 s, 2 tokens are back.
    let r = reserveToken(state, 1000, limit);
    expect(r.waitMs).toBe(0);
    r = reserveToken(r.state, 1000, limit);
    expect(r.waitMs).toBe(0);
    r = reserveToken(r.state, 1000, limit);
    expect(r.waitMs).toBeCloseTo(500);
    // A long idle period refills only up to burst.
    let idle = reserveToken(initialBucket(limit, 0), 3_600_000, limit).state;
    const waits = [];
    for (let i = 0; i < 3; i++) {
      const x = reserveToken(idle, 3_600_000, limit);
      idle = x.state;
      waits.push(x.waitMs);
    }
    expect(waits).toEqual([0, 0, 500]);
  });

  test("burst defaults to ceil(qps) (MIC sets both from --clientQps) and is at least 1", () => {
    const limit = { qps: 0.5 };
    const first = reserveToken(initialBucket(limit, 0), 0, limit);
    expect(first.waitMs).toBe(0);
    expect(reserveToken(first.state, 0, limit).waitMs).toBeCloseTo(2000);
  });

  test("qps <= 0 or Infinity disables limiting", () => {
    for (const qps of [0, -1, Number.POSITIVE_INFINITY]) {
      let state = initialBucket({ qps }, 0);
      for (let i = 0; i < 100; i++) {
        const r = reserveToken(state, 0, { qps });
        expect(r.waitMs).toBe(0);
        state = r.state;
      }
    }
  });

  test("property: over any schedule, no more than burst + qps*t requests are released by time t", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.nat(2000), { minLength: 1, maxLength: 60 }),
        (qps, burst, gaps) => {
          const limit = { qps, burst };
          let state = initialBucket(limit, 0);
          let now = 0;
          const releases: number[] = [];
          for (const gap of gaps) {
            now += gap;
            const r = reserveToken(state, now, limit);
            state = r.state;
            releases.push(now + r.waitMs);
          }
          releases.sort((a, b) => a - b);
          releases.forEach((t, i) => {
            expect(i + 1).toBeLessThanOrEqual(burst + (qps * t) / 1000 + 1e-6);
          });
        },
      ),
    );
  });
});

describe("RateLimiter", () => {
  test("acquire waits for the reserved token and honours abort", async () => {
    let clock = 0;
    const limiter = new RateLimiter({ qps: 20, burst: 1 }, () => clock);
    await limiter.acquire();
    const waiting = limiter.acquire();
    let released = false;
    waiting.then(() => {
      released = true;
    });
    await Bun.sleep(0);
    expect(released).toBe(false);
    await waiting;
    expect(released).toBe(true);

    const slow = new RateLimiter({ qps: 0.001, burst: 1 }, () => clock);
    await slow.acquire();
    const abort = new AbortController();
    const pending = slow.acquire(abort.signal);
    abort.abort(new Error("give up"));
    await expect(pending).rejects.toThrow("give up");
    clock += 1;
  });
});
