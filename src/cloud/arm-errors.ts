// Typed ARM failures. Callers branch on the class (instanceof) or on `code`, never on the message:
// the message is ARM's text and only there for logs and events.

export class ArmError extends Error {
  readonly statusCode: number | undefined;
  readonly code: string;
  /** Set when ARM sent a usable Retry-After header, whatever the status. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, details: { statusCode?: number; code: string; retryAfterMs?: number; cause?: unknown }) {
    super(message, { cause: details.cause });
    // Explicit names: minified builds rename classes.
    this.name = "ArmError";
    this.statusCode = details.statusCode;
    this.code = details.code;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** HTTP 429. `retryAfterMs` is ARM's Retry-After, or DEFAULT_THROTTLE_RETRY_MS when it sent none. */
export class ArmThrottledError extends ArmError {
  declare readonly retryAfterMs: number;
  constructor(message: string, details: { retryAfterMs: number; code?: string; cause?: unknown }) {
    super(message, { statusCode: 429, code: details.code ?? "TooManyRequests", ...details });
    this.name = "ArmThrottledError";
  }
}

export type ArmIdentityErrorCode = "LinkedAuthorizationFailed" | "FailedIdentityOperation";

/**
 * ARM refused some user-assigned identities: the caller lacks "Managed Identity Operator" on them
 * (LinkedAuthorizationFailed) or they do not exist (FailedIdentityOperation). `identityIds` are the
 * identity IDs named in ARM's message (possibly empty when the message names none).
 */
export class ArmIdentityError extends ArmError {
  declare readonly code: ArmIdentityErrorCode;
  readonly identityIds: string[];
  constructor(
    message: string,
    details: { code: ArmIdentityErrorCode; identityIds: string[]; statusCode?: number; cause?: unknown },
  ) {
    super(message, details);
    this.name = "ArmIdentityError";
    this.identityIds = details.identityIds;
  }
}

export class ArmNotFoundError extends ArmError {
  constructor(message: string, details: { code?: string; cause?: unknown } = {}) {
    super(message, { statusCode: 404, code: details.code ?? "NotFound", cause: details.cause });
    this.name = "ArmNotFoundError";
  }
}

/** The VM / VMSS is being deleted; its identities must not be touched (as aad-pod-identity). */
export class ArmResourceDeletingError extends ArmError {
  constructor(message: string) {
    super(message, { code: "ResourceDeleting" });
    this.name = "ArmResourceDeletingError";
  }
}

/** Used when a 429 carries no (or an unreadable) Retry-After. */
export const DEFAULT_THROTTLE_RETRY_MS = 10_000;

/**
 * Retry-After as milliseconds from `nowMs`: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"). A date in the past gives 0. Anything else gives undefined.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only date-shaped text: Date.parse would also accept "5" or "-3" in some engines.
  if (!/[a-z]/i.test(text) || !/\d{1,2}:\d{2}/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

// A user-assigned identity's ARM ID. Names are letters, digits, '-' and '_'; resource group names may
// also hold '.', '(' and ')'. Delimiters seen in ARM messages (quotes, commas, escaped JSON) end a match.
const USER_ASSIGNED_ID_IN_TEXT =
  /\/subscriptions\/[^/\s'",\\]+\/resourcegroups\/[^/\s'",\\]+\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[A-Za-z0-9_-]+/gi;

/**
 * The user-assigned identity IDs named in an ARM error message, deduplicated case-insensitively, in
 * order of appearance. Handles the LinkedAuthorizationFailed shape ("... on the linked scope(s)
 * '<id>,<id>' or the linked scope(s) are invalid") and FailedIdentityOperation texts that embed the
 * identity service's JSON response (quotes possibly backslash-escaped).
 */
export function extractIdentityIds(message: string): string[] {
  const seen = new Set<string>();
  const ids: string[] = [];
  for (const match of message.matchAll(USER_ASSIGNED_ID_IN_TEXT)) {
    const key = match[0].toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    ids.push(match[0]);
  }
  return ids;
}

/** Which identity error code, if any, an ARM error code or message denotes. */
export function identityErrorCode(code: string | undefined, message: string): ArmIdentityErrorCode | undefined {
  for (const candidate of ["LinkedAuthorizationFailed", "FailedIdentityOperation"] as const) {
    if (code === candidate || message.includes(candidate)) return candidate;
  }
  return undefined;
}

/** What the SDK error told us, independent of the SDK's classes. */
export interface RawArmFailure {
  statusCode: number | undefined;
  code: string | undefined;
  message: string;
  retryAfter: string | undefined;
}

/** Maps one failed ARM call to the typed error the caller handles. Pure. */
export function classifyArmFailure(failure: RawArmFailure, nowMs: number, cause?: unknown): ArmError {
  const retryAfterMs = parseRetryAfter(failure.retryAfter, nowMs);
  const message = failure.message;
  if (failure.statusCode === 429) {
    return new ArmThrottledError(message, {
      retryAfterMs: retryAfterMs ?? DEFAULT_THROTTLE_RETRY_MS,
      code: failure.code,
      cause,
    });
  }
  const identityCode = identityErrorCode(failure.code, message);
  if (identityCode) {
    return new ArmIdentityError(message, {
      code: identityCode,
      identityIds: extractIdentityIds(message),
      statusCode: failure.statusCode,
      cause,
    });
  }
  if (failure.statusCode === 404) return new ArmNotFoundError(message, { code: failure.code, cause });
  return new ArmError(message, {
    statusCode: failure.statusCode,
    code: failure.code ?? (failure.statusCode === undefined ? "RequestFailed" : `Http${failure.statusCode}`),
    retryAfterMs,
    cause,
  });
}
