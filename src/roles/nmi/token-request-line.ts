// NMI's line per token request, written straight to the logger's destination in the logger's format: the
// same line pino (JSON) or the text hook would write, without their per-call loop over the fields (~1 µs
// against ~0.2 µs per line; there is one line per token request). Lines at warn level (status ≥ 500) are
// rare and go through the logger as usual.
//
// A line is three fragments: when (the header, new each millisecond), who (pod, namespace, identity,
// resource: the same for every request a pod makes) and the outcome (status, duration, cache, route: a
// handful of combinations). A destination that takes bytes (the batched stderr writer) gets the three as
// UTF-8 bytes encoded once and remembered, so a warm request's line allocates nothing: a string built
// per request was the largest share of what NMI allocated per request, and its garbage collections
// showed up in the latency tail.
import type { Logger, LogOutput } from "../../observability/logger.ts";
import { header, renderFields, renderValue } from "../../observability/text-format.ts";
import { TupleMemo } from "../../support/tuple-memo.ts";
import type { TokenRequestLog } from "./server.ts";

const MESSAGE = "token request";
const INFO = 30;

/** How one format renders the three fragments; their concatenation is the whole line, newline included. */
interface LineFragments {
  when(timeMs: number): string;
  who(line: TokenRequestLog): string;
  outcome(line: TokenRequestLog): string;
}

/** Pure: the klog-like text line's fragments; `bound` is the logger's fixed fields, rendered. */
function textFragments(bound: string): LineFragments {
  return {
    when: (timeMs) => header(INFO, timeMs),
    who: (line) =>
      ` ${MESSAGE}${bound} pod=${renderValue(line.pod)} namespace=${renderValue(line.namespace)} identity=${renderValue(
        line.identity,
      )} resource=${renderValue(line.resource)}`,
    outcome: (line) =>
      ` status=${line.status} durationMs=${line.durationMs} cache=${line.cache} route=${line.route}${
        line.excepted === undefined ? "" : ` excepted=${line.excepted}`
      }${line.error === undefined ? "" : ` error=${renderValue(line.error)}`}\n`,
  };
}

/** Pure: the JSON line's fragments, field for field as pino writes them; `bound` is `,"k":v` or "". */
function jsonFragments(bound: string): LineFragments {
  const json = JSON.stringify;
  return {
    when: (timeMs) => `{"level":${INFO},"time":"${new Date(timeMs).toISOString()}"`,
    who: (line) =>
      `${bound},"pod":${json(line.pod)},"namespace":${json(line.namespace)},"identity":${json(
        line.identity,
      )},"resource":${json(line.resource)}`,
    outcome: (line) =>
      `,"status":${line.status},"durationMs":${line.durationMs},"cache":${json(line.cache)},"route":${json(line.route)}${
        line.excepted === undefined ? "" : `,"excepted":${line.excepted}`
      }${line.error === undefined ? "" : `,"error":${json(line.error)}`},"msg":"${MESSAGE}"}\n`,
  };
}

function fragmentsFor(output: LogOutput): LineFragments {
  const { format, bindings } = output;
  if (format === "text") return textFragments(renderFields(bindings));
  const json = JSON.stringify(bindings);
  return jsonFragments(json === "{}" ? "" : `,${json.slice(1, -1)}`);
}

/** At most this many encoded fragments are remembered per kind; past it they are forgotten and re-made. */
const MAX_REMEMBERED = 4096;

/** Writes a line's fragments as remembered UTF-8 bytes. */
function bytesWriter(fragments: LineFragments, writeBytes: (bytes: Uint8Array) => void, now: () => number) {
  const encoder = new TextEncoder();
  const whoBytes = new TupleMemo<Uint8Array>(MAX_REMEMBERED);
  const outcomeBytes = new TupleMemo<Uint8Array>(MAX_REMEMBERED);
  let whenMs = Number.NaN;
  let whenBytes = new Uint8Array(0);
  return (line: TokenRequestLog) => {
    const timeMs = now();
    if (timeMs !== whenMs) {
      whenBytes = encoder.encode(fragments.when(timeMs));
      whenMs = timeMs;
    }
    const who =
      whoBytes.get(line.pod, line.namespace, line.identity, line.resource) ??
      whoBytes.set(encoder.encode(fragments.who(line)), line.pod, line.namespace, line.identity, line.resource);
    let outcome: Uint8Array | undefined;
    // Lines with an error or the excepted flag are rare and vary: encoded each time, not remembered.
    const plain = line.excepted === undefined && line.error === undefined;
    if (plain) outcome = outcomeBytes.get(line.status, line.durationMs, line.cache, line.route);
    if (!outcome) {
      outcome = encoder.encode(fragments.outcome(line));
      if (plain) outcomeBytes.set(outcome, line.status, line.durationMs, line.cache, line.route);
    }
    writeBytes(whenBytes);
    writeBytes(who);
    writeBytes(outcome);
  };
}

/** Writes one line per token request through `logger`'s destination (info), or the logger (warn). */
export function tokenRequestLineWriter(logger: Logger, now: () => number = Date.now): (line: TokenRequestLog) => void {
  const fragments = fragmentsFor(logger.output);
  const destination = logger.output.destination;
  const writeInfo = destination.writeBytes
    ? bytesWriter(fragments, destination.writeBytes.bind(destination), now)
    : (line: TokenRequestLog) => {
        destination.write(fragments.when(now()) + fragments.who(line) + fragments.outcome(line));
      };
  return (line) => {
    if (line.status >= 500) {
      logger.warn({ ...line }, MESSAGE);
      return;
    }
    writeInfo(line);
  };
}
