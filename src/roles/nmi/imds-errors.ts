// Error answers in IMDS's JSON shape ({"error","error_description"}), with the original NMI's texts, so
// SDKs that parse IMDS errors show something useful (the original sent plain text; §9 item 27).
export interface ImdsError {
  status: number;
  body: { error: string; error_description: string };
  headers?: Record<string, string>;
}

export const ErrorText = {
  metadataHeader: "Required metadata header not specified",
  remoteAddressEmpty: "request remote address is empty",
  resourceEmpty: "parameter resource cannot be empty",
  missingPodHeaders: "missing 'podname' and 'podns' from request header",
  notFromHost: "request remote address is not from a host",
  blocked: "Request blocked by AAD Pod Identity NMI",
  invalidRequest: "Invalid request",
  podListEmpty: "pod list is empty",
  objectIdUnsupported:
    "object_id is not supported by AAD Pod Identity NMI: request the identity by client_id or msi_res_id",
  badPath: "malformed request path",
  tooLarge: "request headers or query too large",
  upstreamUnavailable: "failed to reach the instance metadata service",
  notServing: "NMI is not serving yet",
} as const;

/** The `error` code IMDS uses for each status (unknown statuses fall back to a generic code). */
function errorCode(status: number): string {
  switch (status) {
    case 400:
      return "invalid_request";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 429:
      return "too_many_requests";
    case 503:
      return "service_unavailable";
    default:
      return status >= 500 ? "internal_error" : "invalid_request";
  }
}

export function imdsError(status: number, description: string, headers?: Record<string, string>): ImdsError {
  return { status, body: { error: errorCode(status), error_description: description }, headers };
}

/** The original's 500 when several pods on the node share the caller's IP. */
export function ambiguousPodError(ip: string, pods: string[]): ImdsError {
  return imdsError(500, `failed to match pod IP ${ip} with [${pods.join(" ")}]`);
}

/** The original's 404 text when the requested client id matches no identity (client id redacted). */
export function noIdentityForClientId(redactedClientId: string): string {
  return `no azure identity found for request clientID ${redactedClientId}`;
}

// Every token request logs its client id redacted; the few ids a node sees are redacted once each.
const redacted = new Map<string, string>();
const MAX_REMEMBERED_IDS = 1024;

/** Client ids in logs and error texts: first 4 + `##### REDACTED #####` + last 4, as the original. */
export function redactClientId(clientId: string): string {
  const known = redacted.get(clientId);
  if (known !== undefined) return known;
  const text =
    clientId.length <= 8 ? "##### REDACTED #####" : `${clientId.slice(0, 4)}##### REDACTED #####${clientId.slice(-4)}`;
  // Callers choose the ids they send: past the bound, start over rather than grow.
  if (redacted.size >= MAX_REMEMBERED_IDS) redacted.clear();
  redacted.set(clientId, text);
  return text;
}

/** 404, or 503 with `Retry-After: 20` when --set-retry-after-header is on (20 s lets MIC finish a cycle). */
export function identityNotReady(description: string, setRetryAfterHeader: boolean): ImdsError {
  if (setRetryAfterHeader) return imdsError(503, description, { "Retry-After": "20" });
  return imdsError(404, description);
}
