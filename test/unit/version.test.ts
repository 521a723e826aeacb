import { describe, expect, test } from "bun:test";
import { userAgent } from "../../src/version.ts";

describe("userAgent", () => {
  test("follows the original's component/version/commit/date shape and appends a custom suffix", () => {
    expect(userAgent("NMI")).toMatch(/^pod-identity\/NMI\/[^/]+\/[^/]+\/[^ ]+$/);
    expect(userAgent("MIC", "team-a")).toMatch(/^pod-identity\/MIC\/.+ team-a$/);
  });
});
