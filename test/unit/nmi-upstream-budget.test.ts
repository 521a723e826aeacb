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

  test("a call counts against the second that follows its end, so a slow call holds its slot longer", async () => {
    const { clock, advance } = manualClock();
    const budget = new UpstreamBudget({ maxConcurrent: 100, maxPerSecond: 2, clock });
    const startedAt: number[] = [];
    const releases: (() => void)[] = [];
    for (let i = 0; i < 3; i++)
      void budget.acquire(`p${i}`).then((release) => {
        startedAt.push(clock.now());
        releases.push(release);
      });
    await flush();
    expect(startedAt).toEqual([0, 0]);
    advance(300);
    for (const release of releases.splice(0)) release();
    // Started at 0 but answered at 300: IMDS may have counted them as late as 300, so the third waits
    // until 1300, not 1000.
    advance(999);
    await flush();
    expect(startedAt).toEqual([0, 0]);
    advance(1);
    await flush();
    expect(startedAt).toEqual([0, 0, 1300]);
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

  test("property: under any arrival pattern and call durations, no one-second window at IMDS can see more than maxPerSecond calls, and every caller is served", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom("p1", "p2", "p3"), fc.integer({ min: 0, max: 300 })), { maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        async (arrivals, maxConcurrent, maxPerSecond) => {
          const { clock, advance } = manualClock();
          const calls: { start: number; end: number }[] = [];
          let maxActive = 0;
          // Grants are observed synchronously (a .then callback would see a later fake time).
          const budget = new UpstreamBudget({
            maxConcurrent,
            maxPerSecond,
            clock,
            onGranted: () => {
              calls.push({ start: clock.now(), end: Number.POSITIVE_INFINITY });
              maxActive = Math.max(maxActive, budget.active);
            },
          });
          let done = 0;
          // Grants resolve in order, so the n-th resolved acquire is the n-th recorded call.
          let resolved = 0;
          for (const [index, [pod, delay]] of arrivals.entries()) {
            advance(delay);
            void budget.acquire(pod).then((release) => {
              const call = calls[resolved++];
              // Calls last 20 to 320 ms of fake time.
              clock.setTimer(
                () => {
                  if (call) call.end = clock.now();
                  release();
                  done++;
                },
                20 + ((index * 37) % 300),
              );
            });
            await flush();
          }
          for (let i = 0; i < 200 && done < arrivals.length; i++) {
            advance(100);
            await flush();
          }
          expect(done).toBe(arrivals.length);
          expect(maxActive).toBeLessThanOrEqual(maxConcurrent);
          // IMDS counts a call when it arrives, anywhere between its start and its end. The busiest
          // one-second window at IMDS holds at most the calls that started by the latest start in it and
          // ended less than a second before that start; there must never be more than maxPerSecond.
          for (const latest of calls) {
            const inWindow = calls.filter((c) => c.start <= latest.start && c.end > latest.start - 1000);
            expect(inWindow.length).toBeLessThanOrEqual(maxPerSecond);
          }
        },
      ),
      { numRuns: 60, endOnFailure: true },
    );
  });
});
