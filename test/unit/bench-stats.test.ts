import { describe, expect, test } from "bun:test";
import { percentile, summariseLatencies, throughputPerSecond } from "../../bench/support/stats.ts";

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
