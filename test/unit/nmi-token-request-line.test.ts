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

/** A destination that collects whole lines, and (bytes: true) also takes them as bytes in pieces. */
function collector(options: { bytes: boolean }) {
  const lines: string[] = [];
  let pending = "";
  const decoder = new TextDecoder();
  const write = (text: string) => {
    pending += text;
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n")) {
      lines.push(pending.slice(0, end + 1));
      pending = pending.slice(end + 1);
    }
  };
  const writeBytes = (bytes: Uint8Array) => write(decoder.decode(bytes));
  return { lines, destination: options.bytes ? { write, writeBytes } : { write } };
}

function linesFrom(
  format: LogFormat,
  write: (logger: ReturnType<typeof createLogger>, line: TokenRequestLog) => void,
  options = { bytes: false },
) {
  const { lines, destination } = collector(options);
  const logger = createLogger({ format, verbosity: 0, destination, bindings: { component: "nmi" } }).child({
    node: "aks-node-1",
  });
  // Twice over: the second round is answered from what the first one remembered.
  for (const [, line] of [...cases, ...cases]) write(logger, line);
  return lines.map(withoutTime);
}

describe("NMI's token request line", () => {
  for (const format of ["text", "json"] as const) {
    test(`${format}: the same line, field for field, as the logger itself writes for the record`, () => {
      const fast = linesFrom(format, (logger, line) => tokenRequestLineWriter(logger)(line));
      const generic = linesFrom(format, (logger, line) => logger.info({ ...line }, "token request"));
      expect(fast).toEqual(generic);
      expect(fast).toHaveLength(cases.length * 2);
      for (const line of fast) expect(line).toContain("node");
    });

    test(`${format}: a destination that takes bytes gets the same lines, remembered fragments included`, () => {
      const writer = (logger: ReturnType<typeof createLogger>) => tokenRequestLineWriter(logger);
      const writers = new WeakMap<object, ReturnType<typeof writer>>();
      const fast = linesFrom(
        format,
        (logger, line) => {
          let write = writers.get(logger);
          if (!write) {
            write = writer(logger);
            writers.set(logger, write);
          }
          write(line);
        },
        { bytes: true },
      );
      const generic = linesFrom(format, (logger, line) => logger.info({ ...line }, "token request"));
      expect(fast).toEqual(generic);
    });
  }

  test("bytes: past the fragment memo's bound, lines stay right (the memo starts over)", () => {
    const { lines, destination } = collector({ bytes: true });
    const logger = createLogger({ format: "text", verbosity: 0, destination });
    const write = tokenRequestLineWriter(logger, () => Date.UTC(2026, 11, 1));
    const count = 5000;
    for (let i = 0; i < count; i++) write({ ...base, pod: `pod-${i}`, durationMs: i % 7 });
    write(base);
    expect(lines).toHaveLength(count + 1);
    expect(lines[4321]).toContain(" pod=pod-4321 ");
    expect(lines[4321]).toContain(" durationMs=2 ");
    expect(lines.at(-1)).toContain(" pod=web-7d9f ");
  });

  test("bytes: each line carries its own millisecond", () => {
    const { lines, destination } = collector({ bytes: true });
    const logger = createLogger({ format: "text", verbosity: 0, destination });
    let at = Date.UTC(2026, 11, 1, 14, 55, 1, 7);
    const write = tokenRequestLineWriter(logger, () => at);
    write(base);
    at += 1;
    write(base);
    write(base);
    expect(lines.map((line) => line.slice(0, 18))).toEqual([
      "I1201 14:55:01.007",
      "I1201 14:55:01.008",
      "I1201 14:55:01.008",
    ]);
  });

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
