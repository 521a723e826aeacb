// Renders one pino JSON line as a readable, klog-like text line, so the compiled binary needs no
// pino-pretty (whose worker-thread transport does not fit a single-file binary):
//   I1122 14:55:01.123 starting NMI component=nmi node=aks-1 err="connection refused"

const levelLetters: Record<number, string> = { 10: "T", 20: "D", 30: "I", 40: "W", 50: "E", 60: "F" };

// Fields pino writes itself, or that the header already shows.
const headerKeys = new Set(["level", "time", "msg", "pid", "hostname"]);

function two(value: number): string {
  return String(value).padStart(2, "0");
}

function header(level: unknown, time: unknown): string {
  const letter = typeof level === "number" ? (levelLetters[level] ?? "I") : "I";
  const date = new Date(typeof time === "number" || typeof time === "string" ? time : Date.now());
  const stamp = Number.isNaN(date.getTime()) ? new Date() : date;
  const millis = String(stamp.getUTCMilliseconds()).padStart(3, "0");
  return `${letter}${two(stamp.getUTCMonth() + 1)}${two(stamp.getUTCDate())} ${two(stamp.getUTCHours())}:${two(
    stamp.getUTCMinutes(),
  )}:${two(stamp.getUTCSeconds())}.${millis}`;
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (typeof value === "object" && value !== null && "message" in value && typeof value.message === "string") {
    // pino's serialised errors: the message reads better than the whole object on one line.
    return JSON.stringify(value.message);
  }
  return JSON.stringify(value) ?? String(value);
}

/** Formats a pino JSON line; lines that are not JSON objects pass through unchanged. */
export function formatLogLine(jsonLine: string): string {
  let record: unknown;
  try {
    record = JSON.parse(jsonLine);
  } catch {
    return jsonLine.endsWith("\n") ? jsonLine : `${jsonLine}\n`;
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) return jsonLine;
  const fields = Object.entries(record as Record<string, unknown>);
  const get = (key: string) => fields.find(([name]) => name === key)?.[1];
  const message = get("msg");
  const parts = [header(get("level"), get("time"))];
  if (typeof message === "string" && message !== "") parts.push(message);
  for (const [key, value] of fields) {
    if (!headerKeys.has(key) && value !== undefined) parts.push(`${key}=${renderValue(value)}`);
  }
  return `${parts.join(" ")}\n`;
}
