import { describe, expect, test } from "bun:test";
import {
  median,
  percentile,
  summariseLatencies,
  summariseRounds,
  throughputPerSecond,
} from "../../bench/support/stats.ts";

describe("bench percentiles (nearest rank)", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  test("p50 and p99 of 1..100 are 50 and 99", () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
  });

  test("a single sample is every percentile", () => {
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  test("p99 of 10 samples is the largest (rank rounds up)", () => {
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
  });

  test("no samples give NaN; an out-of-range percentile throws", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  test("summaries sort unsorted samples first", () => {
    expect(summariseLatencies([3, 1, 2, 10])).toEqual({ count: 4, p50Ms: 2, p99Ms: 10, maxMs: 10 });
    expect(summariseLatencies([]).p99Ms).toBeNaN();
  });

  test("throughput is requests per second of elapsed time", () => {
    expect(throughputPerSecond(500, 250)).toBe(2000);
    expect(throughputPerSecond(5, 0)).toBe(0);
  });
});

describe("rounds of one measurement", () => {
  test("the median of an odd count is the middle value, of an even count the lower middle one", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(median([])).toBeNaN();
  });

  test("rounds are summarised by their medians, with the spread of their rates", () => {
    const round = (completed: number, elapsedMs: number, p50Ms: number, p99Ms: number) => ({
      completed,
      elapsedMs,
      latency: { p50Ms, p99Ms },
    });
    // 1000, 2000 and 500 requests per second; one noisy round with a bad p99.
    const summary = summariseRounds([round(1000, 1000, 1, 2), round(2000, 1000, 0.5, 9), round(500, 1000, 2, 3)]);
    expect(summary).toEqual({ rounds: 3, perSecond: 1000, p50Ms: 1, p99Ms: 3, perSecondRange: [500, 2000] });
  });
});
