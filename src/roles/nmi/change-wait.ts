// Waiting on informer events instead of sleeping: re-evaluate a condition whenever the feed reports a
// change, and once more at its deadline. The deadline may move as the condition's state changes.
import type { ChangeFeed } from "./ports.ts";

export type Evaluation<R> = { done: R } | { waitUntilMs: number };

export interface WaitClock {
  now(): number;
  setTimer(fn: () => void, ms: number): () => void;
}

export const wallClock: WaitClock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/**
 * What ends a wait early: a signal, or something holding one (a Request) or giving one, read only once
 * there is something to wait for (a server request's AbortSignal is made on first access, and most
 * requests never wait).
 */
export type AbortSource = AbortSignal | { readonly signal: AbortSignal } | (() => AbortSignal);

function signalOf(abort: AbortSource | undefined): AbortSignal | undefined {
  if (abort === undefined || abort instanceof AbortSignal) return abort;
  return typeof abort === "function" ? abort() : abort.signal;
}

/**
 * Resolves with the first `done` value of `evaluate`, which runs now, after every change and at the
 * deadline it last returned (it must return `done` once its deadline has passed). Resolves with
 * "aborted" as soon as the abort signal fires (the client went away) while waiting.
 */
export function waitForCondition<R>(
  feed: ChangeFeed,
  evaluate: () => Evaluation<R>,
  abort?: AbortSource,
  clock: WaitClock = wallClock,
): Promise<R | "aborted"> {
  // Most calls are already settled (pod known, identity assigned): answer without subscribing.
  const first = evaluate();
  if ("done" in first) return Promise.resolve(first.done);
  const signal = signalOf(abort);
  if (signal?.aborted) return Promise.resolve("aborted");
  return new Promise((resolve) => {
    let finished = false;
    let cancelTimer: (() => void) | null = null;
    let unsubscribe: (() => void) | null = null;
    let timerAt = Number.NaN;
    const finish = (value: R | "aborted") => {
      if (finished) return;
      finished = true;
      cancelTimer?.();
      unsubscribe?.();
      signal?.removeEventListener("abort", onAbort);
      resolve(value);
    };
    const onAbort = () => finish("aborted");
    const check = () => {
      if (finished) return;
      const result = evaluate();
      if ("done" in result) {
        finish(result.done);
        return;
      }
      if (result.waitUntilMs !== timerAt) {
        cancelTimer?.();
        timerAt = result.waitUntilMs;
        cancelTimer = clock.setTimer(check, Math.max(0, result.waitUntilMs - clock.now()));
      }
    };
    if (signal?.aborted) {
      finish("aborted");
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    unsubscribe = feed.subscribe(check);
    check();
  });
}
