// Azure AD (Entra ID) token-endpoint errors in AAD's shape: `error`, an `error_description` that
// starts with the AADSTS code and ends with the trace/correlation/timestamp lines, `error_codes`,
// `timestamp`, `trace_id`, `correlation_id`, `error_uri`.

export interface AadError {
  status: number;
  error: string;
  code: number;
  message: string;
}

export function aadErrorBody(e: AadError, authorityHost: string, correlationId: string = crypto.randomUUID()) {
  const traceId = crypto.randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
  return {
    error: e.error,
    error_description: `AADSTS${e.code}: ${e.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [e.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${authorityHost}/error?code=${e.code}`,
  };
}

export const tenantNotFound = (tenant: string): AadError => ({
  status: 400,
  error: "invalid_request",
  code: 90002,
  message: `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
});

export const applicationNotFound = (clientId: string, tenant: string): AadError => ({
  status: 400,
  error: "unauthorized_client",
  code: 700016,
  message: `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
});

export const invalidSecret = (clientId: string): AadError => ({
  status: 401,
  error: "invalid_client",
  code: 7000215,
  message: `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
});

export const missingCredential: AadError = {
  status: 401,
  error: "invalid_client",
  code: 7000218,
  message: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
};

export const missingParameter = (name: string): AadError => ({
  status: 400,
  error: "invalid_request",
  code: 900144,
  message: `The request body must contain the following parameter: '${name}'.`,
});

export const unsupportedGrantType: AadError = {
  status: 400,
  error: "unsupported_grant_type",
  code: 70003,
  message: "The app requested an unsupported grant type.",
};

export const invalidScope = (scope: string): AadError => ({
  status: 400,
  error: "invalid_scope",
  code: 1002012,
  message: `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
});

export const assertionSignatureInvalid: AadError = {
  status: 401,
  error: "invalid_client",
  code: 700027,
  message: "Client assertion failed signature validation.",
};

export const certificateNotRegistered = (thumbprint: string, clientId: string): AadError => ({
  status: 401,
  error: "invalid_client",
  code: 700027,
  message: `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`,
});

export const assertionInvalid = (detail: string): AadError => ({
  status: 401,
  error: "invalid_client",
  code: 50027,
  message: `JWT token is invalid or malformed. ${detail}`,
});

// Transient failures, for fault injection. Shapes as AAD sends them: 503 temporarily_unavailable with
// AADSTS90033 and 500 server_error with AADSTS90041 (both seen from login.microsoftonline.com).
export const temporarilyUnavailable: AadError = {
  status: 503,
  error: "temporarily_unavailable",
  code: 90033,
  message: "A transient error has occurred. Please try again.",
};

export const serverError: AadError = {
  status: 500,
  error: "server_error",
  code: 90041,
  message: "A transient error has occurred. Please try again.",
};
