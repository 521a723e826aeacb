// One serial queue per VM / VMSS. Runs for different targets proceed independently (no global
// barrier: a slow or throttled scale set never holds up another). A key enqueued while its run is in
// flight is marked dirty and runs once more afterwards, so every change that arrived during a PATCH
// lands in the next PATCH instead of one PATCH each.
import type { Clock } from "./clock.ts";

export interface RunOutcome {
  /** Run this key again at that time (grace period, backoff, Retry-After). */
  retryAt?: number | undefined;
}

interface Entry {
  running: boolean;
  dirty: boolean;
  cancelTimer?: (() => void) | undefined;
  timerAt?: number | undefined;
}

export interface TargetQueuesOptions {
  /** Targets worked on at once; unbounded by default, as each target is independent. */
  maxConcurrent?: number;
  onError?: (key: string, error: unknown) => void;
  /** Delay before retrying a run that threw. */
  errorRetryMs?: number;
}

export class TargetQueues {
  private readonly entries = new Map<string, Entry>();
  private readonly ready: string[] = [];
  private readonly readySet = new Set<string>();
  private active = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  /** Runs started, per key (for metrics and tests). */
  readonly runs = new Map<string, number>();

  constructor(
    private readonly run: (key: string) => Promise<RunOutcome | undefined>,
    private readonly clock: Clock,
    private readonly options: TargetQueuesOptions = {},
  ) {}

  /** Asks for a run of `key` now, or at `at` (the earliest request wins). */
  enqueue(key: string, at?: number): void {
    if (this.stopped) return;
    const entry = this.entry(key);
    const now = this.clock.now();
    if (at !== undefined && at > now) {
      if (entry.timerAt !== undefined && entry.timerAt <= at) return;
      entry.cancelTimer?.();
      entry.timerAt = at;
      entry.cancelTimer = this.clock.setTimer(() => {
        entry.cancelTimer = undefined;
        entry.timerAt = undefined;
        this.enqueue(key);
      }, at - now);
      return;
    }
    if (entry.running) {
      entry.dirty = true;
      return;
    }
    if (this.readySet.has(key)) return;
    this.ready.push(key);
    this.readySet.add(key);
    this.pump();
  }

  /** Resolves when nothing runs and nothing is ready to run (timers for later are not waited for). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  isIdle(): boolean {
    return this.active === 0 && this.ready.length === 0;
  }

  /** Stops scheduling; runs in flight finish. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) entry.cancelTimer?.();
    this.ready.length = 0;
    this.readySet.clear();
    this.notifyIdle();
  }

  private entry(key: string): Entry {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { running: false, dirty: false };
      this.entries.set(key, entry);
    }
    return entry;
  }

  private pump(): void {
    const max = this.options.maxConcurrent ?? Number.POSITIVE_INFINITY;
    while (!this.stopped && this.active < max && this.ready.length > 0) {
      const key = this.ready.shift() as string;
      this.readySet.delete(key);
      void this.start(key);
    }
    this.notifyIdle();
  }

  private async start(key: string): Promise<void> {
    const entry = this.entry(key);
    // The run reads the latest state and asks for whatever follow-up it needs.
    entry.cancelTimer?.();
    entry.cancelTimer = undefined;
    entry.timerAt = undefined;
    entry.running = true;
    entry.dirty = false;
    this.active++;
    this.runs.set(key, (this.runs.get(key) ?? 0) + 1);
    let outcome: RunOutcome | undefined;
    try {
      outcome = await this.run(key);
    } catch (error) {
      this.options.onError?.(key, error);
      outcome = { retryAt: this.clock.now() + (this.options.errorRetryMs ?? 5_000) };
    } finally {
      entry.running = false;
      this.active--;
    }
    if (entry.dirty) {
      entry.dirty = false;
      this.enqueue(key);
    }
    if (outcome?.retryAt !== undefined) this.enqueue(key, outcome.retryAt);
    if (!entry.running && !this.readySet.has(key) && entry.timerAt === undefined) this.entries.delete(key);
    this.pump();
  }

  private notifyIdle(): void {
    if (!this.isIdle() && !this.stopped) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
