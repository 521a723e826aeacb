// What an answer to the token request means for `wait`: a token, try again, or give up. Retryable are
// the answers IMDS documents as transient (404 identity not assigned yet, 410, 429, 5xx) — NMI answers
// 404 (or 503 with Retry-After) while MIC is still assigning. Anything else (400, 403, ...) is final.
import * as v from "valibot";
import { oneLine } from "./one-line.ts";

export type TokenVerdict =
  | { kind: "token"; accessToken: string }
  | { kind: "retry"; observed: string }
  | { kind: "final"; observed: string };

const tokenBody = v.object({ access_token: v.pipe(v.string(), v.minLength(1)) });
// NMI answers a JSON array for a multi-tenant service principal: the primary tenant's token first.
const tokenResponseSchema = v.union([tokenBody, v.pipe(v.tupleWithRest([tokenBody], v.unknown()))]);

const errorBodySchema = v.object({
  error: v.optional(v.string()),
  error_description: v.optional(v.string()),
});

export function isRetryableStatus(status: number): boolean {
  return status === 404 || status === 410 || status === 429 || (status >= 500 && status <= 599);
}

/** IMDS errors are JSON {error, error_description}; NMI's are plain text. */
export function describeErrorBody(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return oneLine(body);
  }
  const error = v.safeParse(errorBodySchema, parsed);
  if (!error.success) return oneLine(body);
  return oneLine([error.output.error, error.output.error_description].filter(Boolean).join(": "));
}

function parseToken(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const result = v.safeParse(tokenResponseSchema, parsed);
  if (!result.success) return undefined;
  return Array.isArray(result.output) ? result.output[0].access_token : result.output.access_token;
}

export function judgeTokenResponse(status: number, body: string): TokenVerdict {
  if (status === 200) {
    const accessToken = parseToken(body);
    // The body is not echoed: it may hold a token in a shape we did not recognise.
    if (accessToken === undefined)
      return { kind: "final", observed: "HTTP 200 with a body that is not a token response" };
    return { kind: "token", accessToken };
  }
  const description = describeErrorBody(body);
  const observed = description === "" ? `HTTP ${status}` : `HTTP ${status} ${description}`;
  return isRetryableStatus(status) ? { kind: "retry", observed } : { kind: "final", observed };
}
