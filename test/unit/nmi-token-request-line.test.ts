import { describe, expect, test } from "bun:test";
import type { LogFormat } from "../../src/config/types.ts";
import { createLogger } from "../../src/observability/logger.ts";
import type { TokenRequestLog } from "../../src/roles/nmi/server.ts";
import { tokenRequestLineWriter } from "../../src/roles/nmi/token-request-line.ts";

const base: TokenRequestLog = {
  pod: "web-7d9f",
  namespace: "default",
  identity: "##### REDACTED #####a1b2",
  resource: "https://management.azure.com/",
  status: 200,
  durationMs: 3,
  cache: "hit",
  route: "token",
};
const cases: Array<[string, TokenRequestLog]> = [
  ["a cached token", base],
  ["an excepted pod, fetched", { ...base, excepted: true, cache: "miss", durationMs: 41 }],
  [
    "a refusal whose text needs quoting",
    { ...base, status: 404, identity: "", error: 'no azure identity found for "web" in its namespace' },
  ],
  ["a resource with spaces and quotes", { ...base, resource: 'https://x/ "quoted" = ', status: 400 }],
  ["a host token request", { ...base, route: "host_token", pod: "", namespace: "" }],
];

/** The timestamp part of a line (text header or JSON "time"), replaced so two lines can be compared. */
const withoutTime = (line: string) =>
  line.replace(/^[IWE]\d{4} \d\d:\d\d:\d\d\.\d{3}/, "<time>").replace(/"time":"[^"]+"/, '"time":"<time>"');

function linesFrom(format: LogFormat, write: (logger: ReturnType<typeof createLogger>, line: TokenRequestLog) => void) {
  const out: string[] = [];
  const logger = createLogger({
    format,
    verbosity: 0,
    destination: { write: (text) => out.push(text) },
    bindings: { component: "nmi" },
  }).child({ node: "aks-node-1" });
  for (const [, line] of cases) write(logger, line);
  return out.map(withoutTime);
}

describe("NMI's token request line", () => {
  for (const format of ["text", "json"] as const) {
    test(`${format}: the same line, field for field, as the logger itself writes for the record`, () => {
      const fast = linesFrom(format, (logger, line) => tokenRequestLineWriter(logger)(line));
      const generic = linesFrom(format, (logger, line) => logger.info({ ...line }, "token request"));
      expect(fast).toEqual(generic);
      expect(fast).toHaveLength(cases.length);
      for (const line of fast) expect(line).toContain("node");
    });
  }

  test("the time is the line's own, in each format", () => {
    const out: string[] = [];
    const at = Date.UTC(2026, 11, 1, 14, 55, 1, 7);
    for (const format of ["text", "json"] as const) {
      const logger = createLogger({ format, verbosity: 0, destination: { write: (text) => out.push(text) } });
      tokenRequestLineWriter(logger, () => at)(base);
    }
    expect(out[0]).toStartWith("I1201 14:55:01.007 token request pod=web-7d9f");
    expect(JSON.parse(out[1] ?? "{}").time).toBe("2026-12-01T14:55:01.007Z");
  });

  test("a 5xx answer is logged at warn level, through the logger", () => {
    const out: string[] = [];
    const logger = createLogger({ format: "json", verbosity: 0, destination: { write: (text) => out.push(text) } });
    tokenRequestLineWriter(logger)({ ...base, status: 503, error: "IMDS unreachable" });
    expect(JSON.parse(out[0] ?? "{}")).toMatchObject({ level: 40, status: 503, error: "IMDS unreachable" });
  });
});
