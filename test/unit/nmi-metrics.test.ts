import { expect, test } from "bun:test";
import { NmiMetrics } from "../../src/roles/nmi/nmi-metrics.ts";

test("the resource label is bounded: past 50 distinct values it becomes 'other'", () => {
  const metrics = new NmiMetrics();
  for (let i = 0; i < 50; i++) expect(metrics.resourceLabel(`https://r${i}`)).toBe(`https://r${i}`);
  expect(metrics.resourceLabel("https://new")).toBe("other");
  expect(metrics.resourceLabel("https://r3")).toBe("https://r3");
  expect(metrics.resourceLabel("x".repeat(500))).toBe("other");
});

test("upstream calls feed the original's imds metrics and count 429s", async () => {
  const metrics = new NmiMetrics();
  metrics.upstreamCall("imds", 12, 429, true);
  metrics.upstreamCall("aad", 30, 200, false);
  const errors = await metrics.registry.getSingleMetricAsString("aadpodidentity_imds_operations_errors_count");
  expect(errors).toContain('operation_type="adal_token_msi_userassignedid"} 1');
  expect(errors).not.toContain('operation_type="adal_token"');
  expect(await metrics.registry.getSingleMetricAsString("aadpodidentity_nmi_upstream_throttled_total")).toContain(
    'upstream="imds"} 1',
  );
});
