// Go's time.ParseDuration grammar, so durations written for the original binaries ("3600s", "1h30m",
// "500ms", "1.5h") keep working. Returns milliseconds, or undefined when the text is not a duration.

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3, // µ (micro sign)
  "\u03bcs": 1e-3, // μ (Greek mu)
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

// One "<number><unit>" element; longer units first so "ms" is not read as "m" + "s".
const element = /^(\d*(?:\.\d*)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/;

export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  // Go accepts a bare "0" (with or without sign) and nothing else without a unit.
  if (rest === "0") return 0;
  if (rest === "") return undefined;
  let total = 0;
  while (rest !== "") {
    const match = element.exec(rest);
    if (!match) return undefined;
    const number = match[1] ?? "";
    const unit = match[2] ?? "";
    // "." alone or an empty number has no digits: Go rejects it.
    if (!/\d/.test(number)) return undefined;
    total += Number(number) * (unitMs[unit] ?? Number.NaN);
    rest = rest.slice(match[0].length);
  }
  return Number.isFinite(total) ? sign * total : undefined;
}

/** Go-style rendering for help and logs: 3600000 -> "1h0m0s", 500 -> "500ms". */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = rest / 1000;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}
