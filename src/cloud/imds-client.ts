// A plain IMDS managed-identity token client. NMI forwards exactly what the pod asked for (resource,
// client_id, msi_res_id, object_id), which the SDKs would reshape, so this is fetch, not @azure/identity.
// Answers are untrusted: parsed with valibot; IMDS's error JSON becomes a typed ImdsError.
import * as v from "valibot";
import { parseRetryAfter } from "./arm-errors.ts";

export const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";
export const IMDS_API_VERSION = "2018-02-01";

export interface ImdsTokenRequest {
  resource: string;
  clientId?: string;
  msiResourceId?: string;
  objectId?: string;
}

export interface ImdsRequestOptions {
  /** e.g. http://169.254.169.254 — always explicit, so tests can never reach the real IMDS by accident. */
  baseUrl: string;
  signal?: AbortSignal;
  apiVersion?: string;
  /** Clock for Retry-After dates. */
  now?: () => number;
}

const NumberText = v.pipe(
  v.union([v.string(), v.number()]),
  v.transform((value) => String(value)),
);

const ImdsTokenSchema = v.looseObject({
  access_token: v.pipe(v.string(), v.minLength(1)),
  client_id: v.optional(v.string()),
  expires_in: NumberText,
  expires_on: NumberText,
  ext_expires_in: v.optional(NumberText),
  not_before: v.optional(NumberText),
  resource: v.string(),
  token_type: v.string(),
});

/** IMDS's token answer, numbers as strings (as IMDS sends them). */
export type ImdsToken = v.InferOutput<typeof ImdsTokenSchema>;

const ImdsErrorSchema = v.looseObject({
  error: v.string(),
  error_description: v.optional(v.string()),
});

export class ImdsError extends Error {
  /** HTTP status, or 0 when IMDS could not be reached or answered nonsense with 200. */
  readonly status: number;
  /** IMDS's `error` (e.g. invalid_request), or a synthetic code: http_<status>, connection_failed, invalid_response. */
  readonly error: string;
  readonly errorDescription: string;
  readonly retryAfterMs: number | undefined;

  constructor(details: {
    status: number;
    error: string;
    errorDescription: string;
    retryAfterMs?: number;
    cause?: unknown;
  }) {
    super(`IMDS ${details.status || "request"} ${details.error}: ${details.errorDescription}`, {
      cause: details.cause,
    });
    this.name = "ImdsError";
    this.status = details.status;
    this.error = details.error;
    this.errorDescription = details.errorDescription;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** The token URL for a request; parameters IMDS knows, in IMDS's names. */
export function imdsTokenUrl(request: ImdsTokenRequest, baseUrl: string, apiVersion = IMDS_API_VERSION): URL {
  const url = new URL(IMDS_TOKEN_PATH, baseUrl);
  url.searchParams.set("api-version", apiVersion);
  url.searchParams.set("resource", request.resource);
  if (request.clientId) url.searchParams.set("client_id", request.clientId);
  if (request.msiResourceId) url.searchParams.set("msi_res_id", request.msiResourceId);
  if (request.objectId) url.searchParams.set("object_id", request.objectId);
  return url;
}

/** Turns a non-2xx IMDS answer into an ImdsError. Pure. */
export function imdsErrorFromResponse(
  status: number,
  body: string,
  retryAfter: string | null,
  nowMs: number,
): ImdsError {
  const retryAfterMs = parseRetryAfter(retryAfter, nowMs);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(ImdsErrorSchema, json);
  if (parsed.success) {
    return new ImdsError({
      status,
      error: parsed.output.error,
      errorDescription: parsed.output.error_description ?? "",
      retryAfterMs,
    });
  }
  return new ImdsError({ status, error: `http_${status}`, errorDescription: body.trim().slice(0, 512), retryAfterMs });
}

/** Parses a 2xx IMDS body into the token; ImdsError(invalid_response) when it is not one. Pure. */
export function parseImdsToken(body: string): ImdsToken {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ImdsError({ status: 0, error: "invalid_response", errorDescription: "token response is not JSON" });
  }
  const parsed = v.safeParse(ImdsTokenSchema, json);
  if (!parsed.success) {
    throw new ImdsError({
      status: 0,
      error: "invalid_response",
      errorDescription: parsed.issues.map((issue) => `${v.getDotPath(issue) ?? "(root)"}: ${issue.message}`).join("; "),
    });
  }
  return parsed.output;
}

/** One IMDS token request. Rejects with ImdsError, or with the abort reason when `signal` fires. */
export async function getImdsToken(request: ImdsTokenRequest, options: ImdsRequestOptions): Promise<ImdsToken> {
  const url = imdsTokenUrl(request, options.baseUrl, options.apiVersion);
  let response: Response;
  try {
    response = await fetch(url, { headers: { Metadata: "true" }, signal: options.signal, redirect: "manual" });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    throw new ImdsError({
      status: 0,
      error: "connection_failed",
      errorDescription: `${url.origin}: ${(error as Error).message}`,
      cause: error,
    });
  }
  const body = await response.text();
  if (!response.ok) {
    throw imdsErrorFromResponse(
      response.status,
      body,
      response.headers.get("retry-after"),
      (options.now ?? Date.now)(),
    );
  }
  return parseImdsToken(body);
}
