// Service-principal tokens (AzureIdentity types 1 and 2) from AAD through msal-node's client-credentials
// flow, shaped like IMDS's token JSON so NMI can hand them to pods unchanged.
// - Authority: <adEndpoint or https://login.microsoftonline.com/><tenant>; the authority host is set as
//   a known authority, so msal does no instance discovery (no call to login.microsoftonline.com).
// - Auxiliary tenants: one token per tenant, primary first (aad-pod-identity's multi-tenant SPT).
// - Certificates: RSA only. msal-node signs client assertions with PS256 (SHA-256 thumbprint) or RS256,
//   and AAD accepts only those; an EC key is refused with AadError("unsupported_certificate_key").
// - Extra CA certificates can be trusted by option (aad-transport.ts), e.g. the AAD emulator's CA.
// - msal's own token cache is skipped (skipCache): every call asks AAD, so the caller's cache (NMI's, with
//   --token-cache and its max age) is the only one deciding when a token is reused.
// - msal also remembers a 429 or 5xx per application and refuses that application's next requests
//   itself, for AAD's Retry-After or, without one, 60 s. A 429 (AAD asked us to slow down) keeps that;
//   after a 5xx without Retry-After (a transient outage) the application is dropped, so the next request
//   asks AAD again instead of failing for a minute.
import { createHash } from "node:crypto";
import { ConfidentialClientApplication, type Configuration } from "@azure/msal-node";
import type { ClientCertificate } from "./aad-certificate.ts";
import { type FetchLike, fetchTrustingCa, msalNetworkModule } from "./aad-transport.ts";

/** What msal's throttling will make of the application's last answer. Pure. */
export function isTransientWithoutRetryAfter(status: number, retryAfter: string | null): boolean {
  return status >= 500 && status < 600 && (retryAfter === null || retryAfter === "");
}

export const DEFAULT_AD_ENDPOINT = "https://login.microsoftonline.com/";

export type ServicePrincipalCredential =
  | { kind: "secret"; secret: string }
  | { kind: "certificate"; certificate: ClientCertificate };

export interface ServicePrincipalTokenRequest {
  tenantId: string;
  clientId: string;
  credential: ServicePrincipalCredential;
  /** The resource asked for, e.g. https://vault.azure.net (scope `<resource>/.default`). */
  resource: string;
  auxiliaryTenantIds?: string[];
  /** AzureIdentity.spec.adEndpoint; default https://login.microsoftonline.com/ */
  adEndpoint?: string;
}

/** IMDS-shaped token; all values strings, as IMDS sends them. */
export interface AadToken {
  access_token: string;
  expires_in: string;
  expires_on: string;
  not_before: string;
  resource: string;
  token_type: string;
  client_id: string;
}

/**
 * `code` is AAD's OAuth error (invalid_client, unauthorized_client, invalid_request, invalid_scope, ...),
 * msal's client-side code (network_error, endpoints_resolution_error, ...), or one of ours:
 * unsupported_certificate_key, invalid_authority, aborted.
 */
export class AadError extends Error {
  readonly code: string;
  /** e.g. "AADSTS7000215" when AAD named one. */
  readonly aadsts: string | undefined;
  readonly tenantId: string | undefined;
  constructor(message: string, details: { code: string; aadsts?: string; tenantId?: string; cause?: unknown }) {
    super(message, { cause: details.cause });
    this.name = "AadError";
    this.code = details.code;
    this.aadsts = details.aadsts;
    this.tenantId = details.tenantId;
  }
}

export interface AadClientOptions {
  /** Extra CA certificates (PEM) to trust for AAD, on top of the system roots. */
  caPem?: string;
  /** Replaces the transport entirely (tests). */
  fetch?: FetchLike;
  now?: () => number;
  /** How many msal applications (tenant × client × credential) to keep. Default 256. */
  maxApplications?: number;
}

export interface AadClient {
  /** Tokens for the primary tenant, then each auxiliary tenant. Rejects with AadError. */
  getTokens(request: ServicePrincipalTokenRequest, options?: { signal?: AbortSignal }): Promise<AadToken[]>;
}

/** `https://login.microsoftonline.com/` + tenant → authority URL; AadError for anything but https. */
export function authorityFor(adEndpoint: string, tenantId: string): URL {
  let base: URL;
  try {
    base = new URL(adEndpoint);
  } catch {
    throw new AadError(`invalid adEndpoint ${JSON.stringify(adEndpoint)}`, { code: "invalid_authority" });
  }
  if (base.protocol !== "https:") {
    throw new AadError(`adEndpoint must be https: ${adEndpoint}`, { code: "invalid_authority" });
  }
  if (!/^[A-Za-z0-9.-]+$/.test(tenantId)) {
    throw new AadError(`invalid tenant ID ${JSON.stringify(tenantId)}`, { code: "invalid_request" });
  }
  return new URL(`${base.pathname.replace(/\/+$/, "")}/${tenantId}`, base.origin);
}

/** Maps whatever msal threw to AadError. Pure. */
export function aadErrorFrom(error: unknown, tenantId: string): AadError {
  if (error instanceof AadError) return error;
  const record = (typeof error === "object" && error !== null ? error : {}) as Record<string, unknown>;
  const code = typeof record.errorCode === "string" && record.errorCode !== "" ? record.errorCode : "unknown_error";
  const text =
    typeof record.errorMessage === "string" && record.errorMessage !== ""
      ? record.errorMessage
      : typeof record.message === "string"
        ? record.message
        : String(error);
  const aadsts =
    /AADSTS\d+/.exec(text)?.[0] ??
    (typeof record.errorNo === "string" && /^\d+$/.test(record.errorNo) ? `AADSTS${record.errorNo}` : undefined);
  return new AadError(`${code}: ${text}`, { code, aadsts, tenantId, cause: error });
}

interface Application {
  key: string;
  msal: ConfidentialClientApplication;
  /** Set by the application's transport: a 5xx without Retry-After, which msal would sit out for 60 s. */
  lastAnswer: { transientWithoutRetryAfter: boolean };
}

function credentialFingerprint(credential: ServicePrincipalCredential): string {
  return credential.kind === "secret"
    ? `secret:${createHash("sha256").update(credential.secret).digest("hex")}`
    : `cert:${credential.certificate.thumbprintSha256}`;
}

function scopeFor(resource: string): string {
  return resource.endsWith("/.default") ? resource : `${resource}/.default`;
}

export function createAadClient(options: AadClientOptions = {}): AadClient {
  const transport = options.fetch ?? fetchTrustingCa(options.caPem);
  const now = options.now ?? Date.now;
  const maxApplications = options.maxApplications ?? 256;
  const applications = new Map<string, Application>();

  const applicationFor = (authority: URL, clientId: string, credential: ServicePrincipalCredential) => {
    const key = `${authority.href}|${clientId}|${credentialFingerprint(credential)}`;
    const existing = applications.get(key);
    if (existing) return existing;
    if (credential.kind === "certificate" && !credential.certificate.keyType.startsWith("rsa")) {
      throw new AadError(
        `certificate key type ${credential.certificate.keyType} is not supported: AAD accepts only RSA-signed (RS256/PS256) client assertions`,
        { code: "unsupported_certificate_key" },
      );
    }
    const auth: Configuration["auth"] = {
      clientId,
      authority: authority.href,
      knownAuthorities: [authority.host],
    };
    if (credential.kind === "secret") {
      auth.clientSecret = credential.secret;
    } else {
      auth.clientCertificate = {
        thumbprintSha256: credential.certificate.thumbprintSha256,
        privateKey: credential.certificate.privateKeyPem,
        x5c: credential.certificate.certificatePem,
      };
    }
    // Each application gets its own view of the transport, to know how its last request ended.
    const lastAnswer = { transientWithoutRetryAfter: false };
    const networkClient = msalNetworkModule(async (url, init) => {
      const response = await transport(url, init);
      lastAnswer.transientWithoutRetryAfter = isTransientWithoutRetryAfter(
        response.status,
        response.headers.get("retry-after"),
      );
      return response;
    });
    const application: Application = {
      key,
      msal: new ConfidentialClientApplication({ auth, system: { networkClient } }),
      lastAnswer,
    };
    if (applications.size >= maxApplications) {
      const oldest = applications.keys().next().value;
      if (oldest !== undefined) applications.delete(oldest);
    }
    applications.set(key, application);
    return application;
  };

  const tokenFor = async (
    request: ServicePrincipalTokenRequest,
    tenantId: string,
    signal: AbortSignal | undefined,
  ): Promise<AadToken> => {
    try {
      const authority = authorityFor(request.adEndpoint ?? DEFAULT_AD_ENDPOINT, tenantId);
      const application = applicationFor(authority, request.clientId, request.credential);
      const acquire = application.msal
        .acquireTokenByClientCredential({ scopes: [scopeFor(request.resource)], skipCache: true })
        .catch((error: unknown) => {
          if (application.lastAnswer.transientWithoutRetryAfter && applications.get(application.key) === application) {
            applications.delete(application.key);
          }
          throw error;
        });
      const result = await (signal ? abortable(acquire, signal) : acquire);
      if (!result?.accessToken) {
        throw new AadError("AAD returned no access token", { code: "invalid_response", tenantId });
      }
      const nowSeconds = Math.floor(now() / 1000);
      const expiresOn = result.expiresOn ? Math.floor(result.expiresOn.getTime() / 1000) : nowSeconds + 3599;
      return {
        access_token: result.accessToken,
        expires_in: String(Math.max(0, expiresOn - nowSeconds)),
        expires_on: String(expiresOn),
        not_before: String(nowSeconds),
        resource: request.resource,
        token_type: result.tokenType || "Bearer",
        client_id: request.clientId,
      };
    } catch (error) {
      throw aadErrorFrom(error, tenantId);
    }
  };

  return {
    getTokens(request, callOptions = {}) {
      const tenants = [request.tenantId, ...(request.auxiliaryTenantIds ?? [])];
      return Promise.all(tenants.map((tenantId) => tokenFor(request, tenantId, callOptions.signal)));
    },
  };
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AadError("token request aborted", { code: "aborted" }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AadError("token request aborted", { code: "aborted" }));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
