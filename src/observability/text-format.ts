// Renders one log record as a readable, klog-like text line, so the compiled binary needs no
// pino-pretty (whose worker-thread transport does not fit a single-file binary):
//   I1122 14:55:01.123 starting NMI component=nmi node=aks-1 err="connection refused"
// The record is rendered straight from the logged fields (pino's logMethod hook hands them over), not
// from pino's JSON: NMI writes a line per token request, and a JSON round trip per line cost more than
// answering the request.

const levelLetters: Record<number, string> = { 10: "T", 20: "D", 30: "I", 40: "W", 50: "E", 60: "F" };

function two(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

// "MMDD HH:MM:SS" changes once a second; lines within that second reuse it. The whole header changes once
// a millisecond; under load many lines (one per token request) share the last one built.
let stampSecond = Number.NaN;
let stampText = "";
let lastLevel = Number.NaN;
let lastTimeMs = Number.NaN;
let lastHeader = "";

/** `I1122 14:55:01.123` for a level and a time in epoch milliseconds (UTC). */
export function header(level: number, timeMs: number): string {
  if (timeMs === lastTimeMs && level === lastLevel) return lastHeader;
  const letter = levelLetters[level] ?? "I";
  const second = Math.floor(timeMs / 1000);
  if (second !== stampSecond) {
    const d = new Date(second * 1000);
    stampText = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(
      d.getUTCMinutes(),
    )}:${two(d.getUTCSeconds())}`;
    stampSecond = second;
  }
  const millis = timeMs - second * 1000;
  lastHeader = `${letter}${stampText}.${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}`;
  lastLevel = level;
  lastTimeMs = timeMs;
  return lastHeader;
}

const BARE = /^[^\s"=]+$/;

/** A field's value in a text line: bare when it can be, else JSON-quoted. */
export function renderValue(value: unknown): string {
  if (typeof value === "string") return BARE.test(value) ? value : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (typeof value === "object" && value !== null && "message" in value && typeof value.message === "string") {
    // Errors (and serialised ones): the message reads better than the whole object on one line.
    return JSON.stringify(value.message);
  }
  return JSON.stringify(value) ?? String(value);
}

function pushFields(parts: string[], fields: Record<string, unknown> | undefined): void {
  if (!fields) return;
  for (const key in fields) {
    const value = fields[key];
    if (value !== undefined) parts.push(`${key}=${renderValue(value)}`);
  }
}

/** ` key=value` for each field set, in order (what follows the message on a text line). */
export function renderFields(fields: Record<string, unknown> | undefined): string {
  const parts: string[] = [];
  pushFields(parts, fields);
  return parts.length > 0 ? ` ${parts.join(" ")}` : "";
}

/**
 * One text line (with its newline): header, message, then the bindings (the logger's fixed fields, such
 * as component) and the call's own fields as key=value, in that order.
 */
export function renderTextLine(
  level: number,
  timeMs: number,
  message: string,
  bindings: Record<string, unknown> | undefined,
  fields: Record<string, unknown> | undefined,
): string {
  const parts = [header(level, timeMs)];
  if (message !== "") parts.push(message);
  pushFields(parts, bindings);
  pushFields(parts, fields);
  return `${parts.join(" ")}\n`;
}
