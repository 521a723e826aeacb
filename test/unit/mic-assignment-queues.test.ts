import { describe, expect, test } from "bun:test";
import { TargetQueues } from "../../src/roles/mic/assignment-queues.ts";
import { systemClock } from "../../src/roles/mic/clock.ts";
import { mapLimit, tokenBucket } from "../../src/roles/mic/rate-limiter.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("per-target queues", () => {
  test("changes enqueued while a run is in flight coalesce into exactly one more run", async () => {
    const started: string[] = [];
    const queues = new TargetQueues(async (key) => {
      started.push(key);
      await sleep(30);
      return undefined;
    }, systemClock);
    queues.enqueue("a");
    await sleep(5);
    for (let i = 0; i < 20; i++) queues.enqueue("a");
    await queues.idle();
    expect(started).toEqual(["a", "a"]);
  });

  test("a slow target does not hold up another one", async () => {
    const finished: string[] = [];
    let releaseSlow = () => {};
    const slowGate = new Promise<void>((r) => {
      releaseSlow = r;
    });
    const queues = new TargetQueues(async (key) => {
      if (key === "slow") await slowGate;
      finished.push(key);
      return undefined;
    }, systemClock);
    queues.enqueue("slow");
    queues.enqueue("fast");
    await sleep(10);
    expect(finished).toEqual(["fast"]);
    releaseSlow();
    await queues.idle();
    expect(finished).toEqual(["fast", "slow"]);
  });

  test("a run can ask to be run again later; a run that throws is retried", async () => {
    let runs = 0;
    const errors: unknown[] = [];
    const queues = new TargetQueues(
      async () => {
        runs++;
        if (runs === 1) return { retryAt: Date.now() + 20 };
        if (runs === 2) throw new Error("boom");
        return undefined;
      },
      systemClock,
      { errorRetryMs: 10, onError: (_key, e) => errors.push(e) },
    );
    queues.enqueue("a");
    const deadline = Date.now() + 2000;
    while (runs < 3 && Date.now() < deadline) await sleep(5);
    expect(runs).toBe(3);
    expect(errors).toHaveLength(1);
    queues.stop();
  });

  test("maxConcurrent bounds how many targets run at once", async () => {
    let active = 0;
    let peak = 0;
    const queues = new TargetQueues(
      async () => {
        active++;
        peak = Math.max(peak, active);
        await sleep(10);
        active--;
        return undefined;
      },
      systemClock,
      { maxConcurrent: 2 },
    );
    for (let i = 0; i < 6; i++) queues.enqueue(`t${i}`);
    await queues.idle();
    expect(peak).toBe(2);
    expect([...queues.runs.values()].reduce((a, b) => a + b, 0)).toBe(6);
  });
});

describe("write limits", () => {
  test("mapLimit keeps at most `limit` in flight and reports failures per item", async () => {
    let active = 0;
    let peak = 0;
    const results = await mapLimit([1, 2, 3, 4, 5], 2, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await sleep(5);
      active--;
      if (n === 3) throw new Error("three");
      return n * 10;
    });
    expect(peak).toBe(2);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
  });

  test("token bucket lets a burst through, then spaces calls by 1/qps (on a manual clock)", async () => {
    let now = 0;
    const slept: number[] = [];
    const clock = {
      now: () => now,
      setTimer: () => () => {},
      sleep: async (ms: number) => {
        slept.push(ms);
        now += ms;
      },
    };
    const bucket = tokenBucket(10, 2, clock);
    for (let i = 0; i < 4; i++) await bucket.acquire();
    expect(slept).toHaveLength(2);
    for (const ms of slept) expect(ms).toBeCloseTo(100, 5);
  });
});
