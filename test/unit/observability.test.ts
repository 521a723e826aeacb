import { afterEach, describe, expect, test } from "bun:test";
import {
  createLogger,
  createMetricsRegistry,
  formatLogLine,
  type MetricsServer,
  pinoLevelFor,
  redactClientId,
  startMetricsServer,
} from "../../src/observability/index.ts";

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => lines.push(line) } };
}

describe("redactClientId", () => {
  test.each([
    ["00000000-1111-2222-3333-444444444444", "0000##### REDACTED #####4444"],
    ["abcdefgh", "abcd##### REDACTED #####efgh"],
    ["abcdefg", "abcdefg"],
    ["", ""],
    ["ab d-efgh-ijkl", "ab d-efgh-ijkl"],
  ])("%p -> %p (the original's regular expression)", (input, expected) => {
    expect(redactClientId(input)).toBe(expected);
  });
});

describe("logger", () => {
  test.each([
    [0, "info"],
    [3, "info"],
    [4, "debug"],
    [5, "debug"],
    [6, "trace"],
    [10, "trace"],
  ])("-v %d logs at %s", (verbosity, level) => {
    expect(pinoLevelFor(verbosity)).toBe(level as "info");
  });

  test("json lines carry the message, fields and bindings; debug is dropped at -v 0", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ format: "json", verbosity: 0, destination, bindings: { component: "nmi" } });
    logger.info({ node: "n1" }, "started");
    logger.debug("hidden");
    logger.child({ pod: "p1" }).warn("careful");
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0] ?? "");
    expect(first).toMatchObject({ msg: "started", node: "n1", component: "nmi", level: 30 });
    expect(JSON.parse(lines[1] ?? "")).toMatchObject({ msg: "careful", pod: "p1", level: 40 });
  });

  test("V(level) writes only when -v is at least that level and tags the line", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ format: "json", verbosity: 3, destination });
    expect(logger.V(3).enabled).toBe(true);
    expect(logger.V(4).enabled).toBe(false);
    logger.V(2).info({ a: 1 }, "shown");
    logger.V(4).info("not shown");
    logger.child({ x: 1 }).V(3).info("child shown");
    expect(lines.map((line) => JSON.parse(line).msg)).toEqual(["shown", "child shown"]);
    expect(JSON.parse(lines[0] ?? "").v).toBe(2);
  });

  test("text format is one readable line per record, without pino-pretty", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ format: "text", verbosity: 4, destination, bindings: { component: "mic" } });
    logger.debug({ node: "aks 1", count: 3, err: new Error("connection refused") }, "syncing");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^D\d{4} \d{2}:\d{2}:\d{2}\.\d{3} syncing component=mic node="aks 1" count=3 err="connection refused"\n$/,
    );
  });

  test("formatLogLine maps levels to klog-style letters and passes non-JSON through", () => {
    const line = (level: number) =>
      formatLogLine(JSON.stringify({ level, time: "2026-01-02T03:04:05.006Z", msg: "m" }));
    expect(line(30)).toBe("I0102 03:04:05.006 m\n");
    expect(line(40)).toStartWith("W0102");
    expect(line(50)).toStartWith("E0102");
    expect(line(10)).toStartWith("T0102");
    expect(formatLogLine("plain text")).toBe("plain text\n");
  });
});

describe("metrics registry", () => {
  test("names get the aadpodidentity_ prefix once and appear in the exposition", async () => {
    const metrics = createMetricsRegistry();
    metrics.counter("mic_cycle_count", "cycles").inc();
    metrics.counter("aadpodidentity_mic_new_leader_election_count", "elections").inc(2);
    metrics
      .histogram("imds_operations_duration_seconds", "token latency", [0.01, 0.1, 1], ["operation_type"])
      .observe({ operation_type: "adal_token_msi" }, 0.05);
    const text = await metrics.metrics();
    expect(text).toContain("aadpodidentity_mic_cycle_count 1");
    expect(text).toContain("aadpodidentity_mic_new_leader_election_count 2");
    expect(text).not.toContain("aadpodidentity_aadpodidentity_");
    expect(text).toContain(
      'aadpodidentity_imds_operations_duration_seconds_bucket{le="0.1",operation_type="adal_token_msi"} 1',
    );
  });

  test("declaring the same metric twice returns the same instance; another type is refused", () => {
    const metrics = createMetricsRegistry();
    const first = metrics.counter("assigned_identity_addition_count", "adds");
    expect(metrics.counter("assigned_identity_addition_count", "adds")).toBe(first);
    expect(() => metrics.gauge("assigned_identity_addition_count", "adds")).toThrow("another type");
  });

  test("registries are independent", async () => {
    const a = createMetricsRegistry();
    const b = createMetricsRegistry();
    a.counter("only_in_a", "a").inc();
    expect(await b.metrics()).not.toContain("only_in_a");
  });
});

describe("metrics server", () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  test("serves /metrics and nothing else (no profiler endpoints)", async () => {
    const metrics = createMetricsRegistry();
    metrics.counter("nmi_requests", "requests").inc();
    server = startMetricsServer({ port: 0, host: "127.0.0.1", registry: metrics });
    const base = `http://127.0.0.1:${server.port}`;

    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    expect(await response.text()).toContain("aadpodidentity_nmi_requests 1");

    for (const path of ["/", "/debug/pprof/", "/debug/pprof/heap", "/healthz", "/metrics/extra"]) {
      expect((await fetch(`${base}${path}`)).status).toBe(404);
    }
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
  });
});
