import { describe, expect, test } from "bun:test";
import { selectBenches } from "../../bench/support/bench-selection.ts";

describe("bench runner selection", () => {
  const files = ["run.ts", "nmi-token.ts", "support", "mic-plan.ts", "mic-assign.ts", "notes.md", "x.d.ts"];

  test("every top-level .ts file but the runner, sorted", () => {
    expect(selectBenches(files, "run.ts", [])).toEqual(["mic-assign.ts", "mic-plan.ts", "nmi-token.ts"]);
  });

  test("filters keep the names containing any of them", () => {
    expect(selectBenches(files, "run.ts", ["nmi"])).toEqual(["nmi-token.ts"]);
    expect(selectBenches(files, "run.ts", ["plan", "token"])).toEqual(["mic-plan.ts", "nmi-token.ts"]);
    expect(selectBenches(files, "run.ts", ["nothing"])).toEqual([]);
  });
});
