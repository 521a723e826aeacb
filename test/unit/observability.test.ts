import { afterEach, describe, expect, test } from "bun:test";
import {
  createLogger,
  createMetricsRegistry,
  type MetricsServer,
  pinoLevelFor,
  renderTextLine,
  startMetricsServer,
} from "../../src/observability/index.ts";

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => lines.push(line) } };
}

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

  test("renderTextLine maps levels to klog-style letters and renders the time in UTC to the millisecond", () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
    const line = (level: number) => renderTextLine(level, at, "m", undefined, undefined);
    expect(line(30)).toBe("I0102 03:04:05.006 m\n");
    expect(line(40)).toStartWith("W0102");
    expect(line(50)).toStartWith("E0102");
    expect(line(10)).toStartWith("T0102");
    // Lines in the same millisecond share a header, but never across levels.
    expect(line(30)).toBe("I0102 03:04:05.006 m\n");
    expect(line(30)).toBe("I0102 03:04:05.006 m\n");
    // The same second reuses its stamp; the milliseconds still change.
    expect(renderTextLine(30, at + 990, "m", undefined, undefined)).toBe("I0102 03:04:05.996 m\n");
    expect(renderTextLine(30, at + 994, "m", undefined, undefined)).toBe("I0102 03:04:06.000 m\n");
  });

  test("text lines put bindings before the call's fields, quote what needs quoting, and show errors by message", () => {
    const line = renderTextLine(
      40,
      Date.UTC(2026, 10, 22, 14, 55, 1, 123),
      "token request",
      { component: "nmi" },
      {
        pod: "web-1",
        resource: "https://vault.azure.net",
        note: "two words",
        status: 200,
        cache: null,
        err: new Error("refused"),
        skipped: undefined,
      },
    );
    expect(line).toBe(
      'W1122 14:55:01.123 token request component=nmi pod=web-1 resource=https://vault.azure.net note="two words" status=200 cache=null err="refused"\n',
    );
  });

  test("child loggers' bindings appear on their text lines, not on the parent's", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ format: "text", verbosity: 0, destination, bindings: { component: "nmi" } });
    logger.child({ node: "aks-1" }).info({ pod: "p" }, "from child");
    logger.info("from parent");
    expect(lines[0]).toMatch(/ from child component=nmi node=aks-1 pod=p\n$/);
    expect(lines[1]).toMatch(/ from parent component=nmi\n$/);
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

  test("a failing collection is a 500 without the collector's error text, and the server keeps serving", async () => {
    const metrics = createMetricsRegistry();
    const failing = {
      ...metrics,
      metrics: () => Promise.reject(new Error("collector blew up at /secret/path")),
    };
    server = startMetricsServer({ port: 0, host: "127.0.0.1", registry: failing });
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain("/secret/path");
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  });
});
