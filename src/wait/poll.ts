// Repeats an attempt until it settles or the deadline passes, pausing the interval (or the server's
// Retry-After) between attempts. The first attempt always runs.
import { nextDelayMs } from "./next-delay.ts";

export type Step<T> =
  | { kind: "done"; value: T }
  | {
      kind: "again";
      observed: string;
      serverDelayMs?: number;
      /** The deadline cut this attempt short; an earlier real answer says more about what went wrong. */
      cutByDeadline?: boolean;
    };

export type PollResult<T> = { settled: true; value: T } | { settled: false; lastObserved: string };

export interface PollClock {
  /** Monotonic milliseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export async function pollUntil<T>(
  clock: PollClock,
  deadline: number,
  intervalMs: number,
  attempt: (remainingMs: number) => Promise<Step<T>>,
): Promise<PollResult<T>> {
  let lastObserved: string | undefined;
  let remaining = Math.max(1, deadline - clock.now());
  for (;;) {
    const step = await attempt(remaining);
    if (step.kind === "done") return { settled: true, value: step.value };
    if (!(step.cutByDeadline && lastObserved !== undefined)) lastObserved = step.observed;
    remaining = deadline - clock.now();
    if (remaining <= 0) return { settled: false, lastObserved };
    await clock.sleep(nextDelayMs(intervalMs, step.serverDelayMs, remaining));
    remaining = deadline - clock.now();
    if (remaining <= 0) return { settled: false, lastObserved };
  }
}
