// Latency statistics for the benches: nearest-rank percentiles over one run's samples. Pure.

/** The nearest-rank percentile (0 < p ≤ 100) of ascending-sorted samples; NaN when there are none. */
export function percentile(sortedAscending: readonly number[], p: number): number {
  if (sortedAscending.length === 0) return Number.NaN;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * sortedAscending.length);
  return sortedAscending[Math.min(rank, sortedAscending.length) - 1] ?? Number.NaN;
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function summariseLatencies(samplesMs: readonly number[]): LatencySummary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
  };
}

/** Requests per second for `count` requests over `elapsedMs`; 0 for an empty or instant run. */
export function throughputPerSecond(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (count * 1000) / elapsedMs : 0;
}

/** The median of some values (the lower middle one for an even count); NaN when there are none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length > 0 ? (sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN) : Number.NaN;
}

export interface RoundOutcome {
  completed: number;
  elapsedMs: number;
  latency: Pick<LatencySummary, "p50Ms" | "p99Ms">;
}

export interface RoundsSummary {
  rounds: number;
  /** Median of the rounds' requests per second. */
  perSecond: number;
  /** Median of the rounds' p50 and p99. */
  p50Ms: number;
  p99Ms: number;
  /** Lowest and highest requests per second among the rounds (how noisy the machine was). */
  perSecondRange: [number, number];
}

/**
 * Several rounds of the same measurement, summarised by their medians: on a shared 2-core machine one
 * round can land on a noisy moment, and a ratio of two single rounds then says more about the moment.
 */
export function summariseRounds(outcomes: readonly RoundOutcome[]): RoundsSummary {
  const rates = outcomes.map((o) => throughputPerSecond(o.completed, o.elapsedMs));
  return {
    rounds: outcomes.length,
    perSecond: median(rates),
    p50Ms: median(outcomes.map((o) => o.latency.p50Ms)),
    p99Ms: median(outcomes.map((o) => o.latency.p99Ms)),
    perSecondRange: rates.length > 0 ? [Math.min(...rates), Math.max(...rates)] : [Number.NaN, Number.NaN],
  };
}
