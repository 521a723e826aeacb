import { describe, expect, test } from "bun:test";
import { TupleMemo } from "../../src/support/tuple-memo.ts";

describe("TupleMemo", () => {
  test("a value is found again by the same parts, and only by them", () => {
    const memo = new TupleMemo<string>(100);
    expect(memo.set("v1", "a", "b", 200, "d")).toBe("v1");
    memo.set("v2", "a", "b");
    expect(memo.get("a", "b", 200, "d")).toBe("v1");
    expect(memo.get("a", "b", "200", "d")).toBeUndefined();
    expect(memo.get("a", "b")).toBe("v2");
    expect(memo.get("a")).toBeUndefined();
    // Parts are kept apart, not joined: no separator can make two tuples meet.
    memo.set("joined?", "a|b", "c");
    expect(memo.get("a", "b|c")).toBeUndefined();
    expect(memo.size).toBe(3);
  });

  test("setting the same parts again replaces the value without counting it twice", () => {
    const memo = new TupleMemo<number>(100);
    memo.set(1, "x", "y");
    memo.set(2, "x", "y");
    expect(memo.get("x", "y")).toBe(2);
    expect(memo.size).toBe(1);
  });

  test("past its bound it forgets everything and starts over", () => {
    const memo = new TupleMemo<number>(3);
    for (let i = 0; i < 3; i++) memo.set(i, "k", i);
    expect(memo.size).toBe(3);
    memo.set(99, "k", 99);
    expect(memo.size).toBe(1);
    expect(memo.get("k", 0)).toBeUndefined();
    expect(memo.get("k", 99)).toBe(99);
  });
});
