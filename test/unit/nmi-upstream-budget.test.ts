import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type BudgetClock, UpstreamBudget } from "../../src/roles/nmi/upstream-budget.ts";

/** A manual clock: timers fire only when the test advances time. */
function manualClock() {
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
  const clock: BudgetClock = {
    now: () => now,
    setTimer(fn, ms) {
      const timer = { at: now + ms, fn };
      timers.push(timer);
      return () => {
        timers = timers.filter((t) => t !== timer);
      };
    },
  };
  const advance = (ms: number) => {
    const target = now + ms;
    for (;;) {
      const due = timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      timers = timers.filter((t) => t !== due);
      now = due.at;
      due.fn();
    }
    now = target;
  };
  return { clock, advance };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("UpstreamBudget", () => {
  test("never more than maxConcurrent calls run at once", async () => {
    const { clock } = manualClock();
    const budget = new UpstreamBudget({ maxConcurrent: 2, maxPerSecond: 100, clock });
    const granted: string[] = [];
    const releases: (() => void)[] = [];
    for (const name of ["a", "b", "c"]) {
      void budget.acquire(name).then((release) => {
        granted.push(name);
        releases.push(release);
      });
    }
    await flush();
    expect(granted).toEqual(["a", "b"]);
    expect(budget.queueDepth).toBe(1);
    releases[0]!();
    await flush();
    expect(granted).toEqual(["a", "b", "c"]);
    expect(budget.active).toBe(2);
  });

  test("never more than maxPerSecond starts within one second; the rest start when the window moves", async () => {
    const { clock, advance } = manualClock();
    const budget = new UpstreamBudget({ maxConcurrent: 100, maxPerSecond: 3, clock });
    let started = 0;
    for (let i = 0; i < 5; i++)
      void budget.acquire("p").then((release) => {
        started++;
        release();
      });
    await flush();
    expect(started).toBe(3);
    advance(999);
    await flush();
    expect(started).toBe(3);
    advance(1);
    await flush();
    expect(started).toBe(5);
  });

  test("callers are served round-robin, so one busy pod does not starve another", async () => {
    const { clock } = manualClock();
    const budget = new UpstreamBudget({ maxConcurrent: 1, maxPerSecond: 1000, clock });
    const order: string[] = [];
    const first = await budget.acquire("busy");
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 3; i++)
      pending.push(
        budget.acquire("busy").then((r) => {
          order.push("busy");
          r();
        }),
      );
    pending.push(
      budget.acquire("quiet").then((r) => {
        order.push("quiet");
        r();
      }),
    );
    first();
    await Promise.all(pending);
    expect(order.indexOf("quiet")).toBe(1);
  });

  test("an aborted waiter leaves the queue and is rejected", async () => {
    const { clock } = manualClock();
    const budget = new UpstreamBudget({ maxConcurrent: 1, maxPerSecond: 1000, clock });
    const hold = await budget.acquire("a");
    const controller = new AbortController();
    const waiting = budget.acquire("b", controller.signal);
    expect(budget.queueDepth).toBe(1);
    controller.abort();
    await expect(waiting).rejects.toThrow("gave up");
    expect(budget.queueDepth).toBe(0);
    hold();
    expect(budget.active).toBe(0);
  });

  test("queue waits are reported when granted", async () => {
    const { clock, advance } = manualClock();
    const waits: number[] = [];
    const budget = new UpstreamBudget({ maxConcurrent: 1, maxPerSecond: 1000, clock, onGranted: (w) => waits.push(w) });
    const hold = await budget.acquire("a");
    const second = budget.acquire("b");
    advance(250);
    hold();
    (await second)();
    expect(waits).toEqual([0, 250]);
  });

  test("releasing twice does not free two slots", async () => {
    const { clock } = manualClock();
    const budget = new UpstreamBudget({ maxConcurrent: 1, maxPerSecond: 1000, clock });
    const release = await budget.acquire("a");
    release();
    release();
    expect(budget.active).toBe(0);
  });

  test("property: under any arrival pattern the limits hold and every caller is served", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom("p1", "p2", "p3"), fc.integer({ min: 0, max: 300 })), { maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        async (arrivals, maxConcurrent, maxPerSecond) => {
          const { clock, advance } = manualClock();
          const starts: number[] = [];
          let maxActive = 0;
          // Grants are observed synchronously (a .then callback would see a later fake time).
          const budget = new UpstreamBudget({
            maxConcurrent,
            maxPerSecond,
            clock,
            onGranted: () => {
              starts.push(clock.now());
              maxActive = Math.max(maxActive, budget.active);
            },
          });
          let done = 0;
          for (const [pod, delay] of arrivals) {
            advance(delay);
            void budget.acquire(pod).then((release) => {
              // Each call lasts 50 ms of fake time.
              clock.setTimer(() => {
                release();
                done++;
              }, 50);
            });
            await flush();
          }
          for (let i = 0; i < 200 && done < arrivals.length; i++) {
            advance(100);
            await flush();
          }
          expect(done).toBe(arrivals.length);
          expect(maxActive).toBeLessThanOrEqual(maxConcurrent);
          for (const start of starts) {
            expect(starts.filter((s) => s > start - 1000 && s <= start).length).toBeLessThanOrEqual(maxPerSecond);
          }
        },
      ),
      { numRuns: 60, endOnFailure: true },
    );
  });
});
