// What the demo prints, as pure functions of what it observed: one line per step, prefixed with the
// time since the demo started, so a reader sees both the order and the latency of each step.

export function stamp(elapsedMs: number): string {
  return `[${(elapsedMs / 1000).toFixed(2).padStart(6)}s]`;
}

export function line(elapsedMs: number, topic: string, text: string): string {
  return `${stamp(elapsedMs)} ${topic.padEnd(8)} ${text}`;
}

/** Continuation lines, aligned under the text of `line`. */
export function detail(text: string): string {
  return `${" ".repeat(18)}${text}`;
}

const CLAIMS_SHOWN = ["appid", "oid", "tid", "aud", "xms_mirid", "iss"] as const;

export function claimLines(claims: Record<string, unknown>): string[] {
  return CLAIMS_SHOWN.filter((key) => claims[key] !== undefined).map(
    (key) => `${key.padEnd(9)} ${String(claims[key])}`,
  );
}

/** A response body shortened for one line; JSON is shown compact. */
export function compactBody(body: string, max = 240): string {
  let text = body.trim();
  try {
    text = JSON.stringify(JSON.parse(text));
  } catch {
    // not JSON: shown as is
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
