// A WaitClock for tests: time moves only when the test advances it, and timers due by then fire in
// the order they were set.
import type { WaitClock } from "../../src/roles/nmi/change-wait.ts";

export function manualWaitClock() {
  let now = 0;
  const timers = new Set<{ at: number; fn: () => void }>();
  const clock: WaitClock = {
    now: () => now,
    setTimer(fn, ms) {
      const timer = { at: now + ms, fn };
      timers.add(timer);
      return () => timers.delete(timer);
    },
  };
  return {
    clock,
    pendingTimers: () => timers.size,
    advance(ms: number) {
      now += ms;
      for (const timer of [...timers]) {
        if (timer.at <= now) {
          timers.delete(timer);
          timer.fn();
        }
      }
    },
  };
}
