import { describe, expect, test } from "bun:test";
import { compatibilityNotices } from "../../src/roles/mic/compatibility-notices.ts";

describe("MIC compatibility notices", () => {
  test("--enable-type-upgrade (default true) warns that the rewrite is not done and how to silence it", () => {
    const notices = compatibilityNotices({ enableTypeUpgrade: true, enableScaleFeatures: false });
    expect(notices).toHaveLength(1);
    expect(notices[0]?.level).toBe("warn");
    expect(notices[0]?.message).toContain("--enable-type-upgrade has no effect");
    expect(notices[0]?.message).toContain("--enable-type-upgrade=false");
  });

  test("--enable-type-upgrade=false is silent; --enableScaleFeatures gets the original's deprecation notice", () => {
    expect(compatibilityNotices({ enableTypeUpgrade: false, enableScaleFeatures: false })).toEqual([]);
    expect(compatibilityNotices({ enableTypeUpgrade: false, enableScaleFeatures: true })).toEqual([
      { level: "info", message: "--enableScaleFeatures is deprecated for MIC and has no effect" },
    ]);
  });
});
