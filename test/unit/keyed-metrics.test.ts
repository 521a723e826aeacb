import { describe, expect, test } from "bun:test";
import { Counter, Histogram, Registry } from "prom-client";
import { KeyedCounter, KeyedHistogram, SeriesKeys } from "../../src/observability/keyed-metrics.ts";

const BUCKETS = [0.5, 1, 2, 5];
type Op = "operation" | "status";
const observations: Array<{ labels: Record<Op, string>; value: number }> = [
  { labels: { operation: "token", status: "200" }, value: 0.0001 },
  { labels: { operation: "token", status: "200" }, value: 0.5 }, // on a bound: counted in that bucket
  { labels: { operation: "token", status: "200" }, value: 1.7 },
  { labels: { operation: "token", status: "404" }, value: 7 }, // above every bound: only +Inf
  { labels: { operation: "host", status: "200" }, value: 2 },
  { labels: { operation: "token", status: "200" }, value: 4.25 },
];
const keyOf = (labels: Record<Op, string>) => `${labels.operation}|${labels.status}`;

/** A KeyedHistogram over BUCKETS in a registry of its own. */
function keyedHistogram<L extends string>(name: string, labelNames: L[]) {
  const registry = new Registry();
  const histogram = new KeyedHistogram<L>({ name, help: "h", labelNames, buckets: BUCKETS, registers: [registry] });
  return { registry, histogram };
}

describe("KeyedHistogram", () => {
  test("exposes the same text as prom-client's Histogram fed the same observations", async () => {
    const reference = new Registry();
    const referenceHistogram = new Histogram<Op>({
      name: "x_seconds",
      help: "h",
      labelNames: ["operation", "status"],
      buckets: BUCKETS,
      registers: [reference],
    });
    const { registry: keyedRegistry, histogram: keyed } = keyedHistogram<Op>("x_seconds", ["operation", "status"]);
    for (const { labels, value } of observations) {
      referenceHistogram.observe(labels, value);
      keyed.observe(keyOf(labels), labels, value);
    }
    const expected = await reference.metrics();
    expect(expected).toContain('x_seconds_bucket{le="0.5",operation="token",status="200"} 2');
    expect(await keyedRegistry.metrics()).toBe(expected);
    expect(await keyedRegistry.getSingleMetricAsString("x_seconds")).toBe(
      await reference.getSingleMetricAsString("x_seconds"),
    );
  });

  test("reset empties every series, as the registry's resetMetrics expects", async () => {
    const { registry, histogram: keyed } = keyedHistogram<Op>("y_seconds", ["operation", "status"]);
    keyed.observe("a|1", { operation: "a", status: "1" }, 1);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain("y_seconds_count");
  });

  test("a value that is not a finite number is not recorded (prom-client would throw mid-request)", async () => {
    const { registry, histogram: keyed } = keyedHistogram<Op>("z_seconds", ["operation", "status"]);
    keyed.observe("a|1", { operation: "a", status: "1" }, Number.NaN);
    keyed.observe("a|1", { operation: "a", status: "1" }, 0.2);
    expect(await registry.metrics()).toContain('z_seconds_count{operation="a",status="1"} 1');
  });
});

describe("KeyedCounter", () => {
  test("a scrape shows every increment so far, the same as prom-client's Counter", async () => {
    const reference = new Registry();
    const referenceCounter = new Counter<Op>({
      name: "c_total",
      help: "c",
      labelNames: ["operation", "status"],
      registers: [reference],
    });
    const keyedRegistry = new Registry();
    const keyed = new KeyedCounter<Op>({
      name: "c_total",
      help: "c",
      labelNames: ["operation", "status"],
      registers: [keyedRegistry],
    });
    for (const { labels } of observations) {
      referenceCounter.inc(labels);
      keyed.inc(keyOf(labels), labels);
    }
    expect(await keyedRegistry.metrics()).toBe(await reference.metrics());
    // Counts keep adding up across scrapes (the pending count is handed over once, not twice).
    keyed.inc("token|200", { operation: "token", status: "200" });
    referenceCounter.inc({ operation: "token", status: "200" });
    const second = await keyedRegistry.metrics();
    expect(second).toBe(await reference.metrics());
    expect(second).toContain('c_total{operation="token",status="200"} 5');
    expect(await keyedRegistry.metrics()).toBe(second);
  });
});

describe("updating only series that exist (hot callers build labels once)", () => {
  test("incKnown and observeKnown refuse a new key without recording it, and record a known one", async () => {
    const { registry, histogram } = keyedHistogram<"r">("k_seconds", ["r"]);
    const counter = new KeyedCounter<"r">({ name: "k_total", help: "k", labelNames: ["r"], registers: [registry] });
    expect(counter.incKnown("a")).toBe(false);
    expect(histogram.observeKnown("a", 1)).toBe(false);
    expect(await registry.metrics()).not.toContain('r="a"');
    counter.inc("a", { r: "a" });
    histogram.observe("a", { r: "a" }, 1);
    expect(counter.incKnown("a")).toBe(true);
    expect(histogram.observeKnown("a", 3)).toBe(true);
    const text = await registry.metrics();
    expect(text).toContain('k_total{r="a"} 2');
    expect(text).toContain('k_seconds_count{r="a"} 2');
    expect(text).toContain('k_seconds_sum{r="a"} 4');
  });
});

describe("SeriesKeys", () => {
  test("the same label values give the same key string (the same object), different ones a different key", () => {
    const keys = new SeriesKeys();
    const first = keys.of4("/token", 200, "default", "https://vault.azure.net");
    expect(keys.of4("/token", 200, "default", "https://vault.azure.net")).toBe(first);
    expect(first).toBe("/token|200|default|https://vault.azure.net");
    expect(keys.of4("/token", 404, "default", "https://vault.azure.net")).not.toBe(first);
    const pairs = new SeriesKeys();
    expect(pairs.of2("token", 200)).toBe("token|200");
    expect(pairs.of2("token", 200)).toBe(pairs.of2("token", 200));
  });
});
