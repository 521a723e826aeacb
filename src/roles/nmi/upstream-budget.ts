// One node-wide budget for calls to the node's IMDS, which answers 429 beyond 5 concurrent requests and
// 20 per second. Callers queue per key (one key per pod) and are served round-robin, so one busy pod
// cannot starve the others. The rate limit counts a call from the moment it starts until one second after
// it ended: IMDS counts a request when it arrives, which is somewhere between our start and our reading
// of its answer, so counting the whole of that span (not just our start time) keeps any one-second
// window at IMDS within maxPerSecond however the requests are delayed on the way. Clock and timers are
// injected for tests.
export interface BudgetClock {
  now(): number;
  /** Schedules `fn` after `ms`; returns a cancel function. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const realClock: BudgetClock = {
  now: () => performance.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

export interface UpstreamBudgetOptions {
  maxConcurrent: number;
  maxPerSecond: number;
  clock?: BudgetClock;
  /** Called with how long each granted caller queued (0 when it did not). */
  onGranted?: (waitMs: number) => void;
}

export class BudgetAbortedError extends Error {
  readonly code = "BUDGET_ABORTED";
  constructor() {
    super("request gave up while waiting for the upstream budget");
  }
}

interface Waiter {
  grant: (release: () => void) => void;
  reject: (error: Error) => void;
  enqueuedAtMs: number;
  detach: () => void;
}

const WINDOW_MS = 1000;

export class UpstreamBudget {
  readonly #maxConcurrent: number;
  readonly #maxPerSecond: number;
  readonly #clock: BudgetClock;
  readonly #onGranted?: (waitMs: number) => void;
  readonly #queues = new Map<string, Waiter[]>();
  // Keys with waiters, in service order; the head is served next and then moves to the back.
  readonly #rotation: string[] = [];
  /** When each of the calls that ended within the last second ended, oldest first. */
  readonly #recentEnds: number[] = [];
  #active = 0;
  #cancelTimer: (() => void) | null = null;

  constructor(options: UpstreamBudgetOptions) {
    if (options.maxConcurrent < 1 || options.maxPerSecond < 1) throw new RangeError("budget limits must be >= 1");
    this.#maxConcurrent = options.maxConcurrent;
    this.#maxPerSecond = options.maxPerSecond;
    this.#clock = options.clock ?? realClock;
    this.#onGranted = options.onGranted;
  }

  /** Calls in flight. */
  get active(): number {
    return this.#active;
  }

  /** Callers waiting for a slot. */
  get queueDepth(): number {
    let depth = 0;
    for (const queue of this.#queues.values()) depth += queue.length;
    return depth;
  }

  /** Runs `fn` within the budget; `callerKey` groups a caller's requests for fairness. */
  async run<R>(callerKey: string, fn: () => Promise<R>, signal?: AbortSignal): Promise<R> {
    const release = await this.acquire(callerKey, signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Waits for a slot; the returned function must be called exactly once when the call ends. */
  acquire(callerKey: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new BudgetAbortedError());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#remove(callerKey, waiter);
        reject(new BudgetAbortedError());
      };
      const waiter: Waiter = {
        grant: resolve,
        reject,
        enqueuedAtMs: this.#clock.now(),
        detach: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      let queue = this.#queues.get(callerKey);
      if (!queue) {
        queue = [];
        this.#queues.set(callerKey, queue);
        this.#rotation.push(callerKey);
      }
      queue.push(waiter);
      this.#pump();
    });
  }

  #remove(callerKey: string, waiter: Waiter): void {
    const queue = this.#queues.get(callerKey);
    if (!queue) return;
    const index = queue.indexOf(waiter);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) this.#dropKey(callerKey);
  }

  #dropKey(callerKey: string): void {
    this.#queues.delete(callerKey);
    const index = this.#rotation.indexOf(callerKey);
    if (index >= 0) this.#rotation.splice(index, 1);
  }

  #pump(): void {
    while (this.#rotation.length > 0 && this.#active < this.#maxConcurrent) {
      const now = this.#clock.now();
      while (this.#recentEnds.length > 0 && this.#recentEnds[0]! <= now - WINDOW_MS) this.#recentEnds.shift();
      // Calls in flight count too; when they fill the window, the next release pumps again.
      if (this.#active + this.#recentEnds.length >= this.#maxPerSecond) {
        if (this.#recentEnds.length > 0) this.#scheduleAt(this.#recentEnds[0]! + WINDOW_MS);
        return;
      }
      const key = this.#rotation.shift()!;
      const queue = this.#queues.get(key)!;
      const waiter = queue.shift()!;
      if (queue.length > 0) this.#rotation.push(key);
      else this.#queues.delete(key);
      waiter.detach();
      this.#active++;
      this.#onGranted?.(now - waiter.enqueuedAtMs);
      let released = false;
      waiter.grant(() => {
        if (released) return;
        released = true;
        this.#active--;
        this.#recentEnds.push(this.#clock.now());
        this.#pump();
      });
    }
  }

  #scheduleAt(atMs: number): void {
    if (this.#cancelTimer) return;
    this.#cancelTimer = this.#clock.setTimer(
      () => {
        this.#cancelTimer = null;
        this.#pump();
      },
      Math.max(0, atMs - this.#clock.now()),
    );
  }
}
