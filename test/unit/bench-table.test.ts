import { describe, expect, test } from "bun:test";
import { count, fixed, markdownTable, mebibytes, ratio, verdict } from "../../bench/support/table.ts";

describe("bench tables", () => {
  test("a Markdown table has a header, a separator and one line per row; short rows are padded", () => {
    expect(markdownTable(["a", "b"], [[1, "x"], ["only"]])).toBe("| a | b |\n|---|---|\n| 1 | x |\n| only |  |");
  });

  test("pipes inside cells are escaped so columns stay aligned", () => {
    expect(markdownTable(["a"], [["x|y"]])).toBe("| a |\n|---|\n| x\\|y |");
  });

  test("verdicts: at most / at least, and n/a when nothing was measured", () => {
    expect(verdict(2, { atMost: 2 })).toBe("PASS");
    expect(verdict(2.01, { atMost: 2 })).toBe("MISS");
    expect(verdict(0.49, { atLeast: 0.5 })).toBe("MISS");
    expect(verdict(0.5, { atLeast: 0.5 })).toBe("PASS");
    expect(verdict(Number.NaN, { atMost: 5 })).toBe("n/a");
  });

  test("number formats", () => {
    expect(fixed(1.2345, 2)).toBe("1.23");
    expect(fixed(Number.NaN, 2)).toBe("–");
    expect(count(12345.6)).toBe("12,346");
    expect(ratio(50, 200)).toBe("0.25×");
    expect(ratio(50, 0)).toBe("–");
    expect(mebibytes(3 * 1024 * 1024)).toBe("3.0 MiB");
  });
});
