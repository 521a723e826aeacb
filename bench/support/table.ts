// Markdown tables and goal verdicts for bench output (what the README quotes). Pure.

export type Cell = string | number;

/** A Markdown table; numbers are printed as given (format them first). Ragged rows are padded. */
export function markdownTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const width = header.length;
  const line = (cells: readonly Cell[]) =>
    `| ${Array.from({ length: width }, (_, i) => String(cells[i] ?? "").replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(header), `|${"---|".repeat(width)}`, ...rows.map(line)].join("\n");
}

/** PASS when the measured value meets the goal, MISS when not, n/a when nothing was measured. */
export function verdict(measured: number, goal: { atMost?: number; atLeast?: number }): "PASS" | "MISS" | "n/a" {
  if (!Number.isFinite(measured)) return "n/a";
  if (goal.atMost !== undefined && measured > goal.atMost) return "MISS";
  if (goal.atLeast !== undefined && measured < goal.atLeast) return "MISS";
  return "PASS";
}

/** Fixed decimals for finite numbers, "–" otherwise. */
export function fixed(value: number, decimals: number): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : "–";
}

/** Thousands separated with commas, rounded to an integer. */
export function count(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "–";
}

/** "0.52×" style ratio of measured / baseline; "–" when the baseline is zero or missing. */
export function ratio(measured: number, baseline: number): string {
  return Number.isFinite(measured) && Number.isFinite(baseline) && baseline > 0
    ? `${(measured / baseline).toFixed(2)}×`
    : "–";
}

/** Bytes as MiB with one decimal. */
export function mebibytes(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : "–";
}
