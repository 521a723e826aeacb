// AAD (Entra ID) emulator over https: OpenID discovery, JWKS, and the client-credentials token
// endpoints (v2 with scope=…/.default, v1 with resource=) for apps registered with a secret or a
// certificate. Errors carry AAD's AADSTS codes and shape. msal-node needs https, a
// knownAuthorities entry for host:port and an issuer that matches the authority (see
// bun-stack-notes §5); `networkClientTrusting(caPem)` lets msal trust the emulator's CA in-process.
// Tests inject failures at runtime with failNext (faults.ts) and slow every answer with setLatency.

import { deterministicGuid } from "../arm/resource-id.ts";
import { createTokenIssuer, type TokenIssuer } from "../common/jwt.ts";
import { createCertificateAuthority } from "../common/pki.ts";
import { type RegisteredCertificate, registerCertificate, verifyClientAssertion } from "./client-assertion.ts";
import {
  type AadError,
  aadErrorBody,
  applicationNotFound,
  invalidScope,
  invalidSecret,
  missingCredential,
  missingParameter,
  tenantNotFound,
  unsupportedGrantType,
} from "./errors.ts";
import { type AadFaultKind, type AadFaultOptions, AadFaults } from "./faults.ts";

export type { AadError } from "./errors.ts";
export type { AadFaultKind, AadFaultOptions } from "./faults.ts";

export interface AadRequest {
  method: string;
  path: string;
  tenant?: string;
  clientId?: string;
  grantType?: string;
  credential?: "secret" | "assertion" | "none";
  status: number;
  error?: string;
  at: number;
}

export interface AadEmulator {
  /** `https://127.0.0.1:<port>`; authority for a tenant is `${authorityHost}/${tenantId}`. */
  authorityHost: string;
  /** host:port, for msal's `knownAuthorities`. */
  knownAuthority: string;
  caPem: string;
  addApp(tenantId: string, clientId: string, cred: { secret?: string; certificatePem?: string }): void;
  /** The service principal object ID tokens for this app carry as `oid`. */
  servicePrincipalObjectId(tenantId: string, clientId: string): string;
  /** msal `authorityMetadata` JSON for a tenant, to skip the discovery request. */
  authorityMetadata(tenantId: string): string;
  requests(): AadRequest[];
  /**
   * The next token requests fail with `fault`, whatever their credentials: "invalid_client" (401,
   * AADSTS7000215), "server_error" (500, AADSTS90041), "temporarily_unavailable" (503, AADSTS90033),
   * "throttled" (429 + Retry-After, plain-text body) or any AadError. Discovery and keys still answer.
   */
  failNext(fault: AadFaultKind | AadError, opts?: AadFaultOptions): void;
  /** Forgets faults not used up yet. */
  clearFaults(): void;
  /** Delays every answer by `ms` (0: none). */
  setLatency(ms: number): void;
  stop(): Promise<void>;
}

interface App {
  secrets: string[];
  certificates: RegisteredCertificate[];
}

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_LIFETIME_SECONDS = 3599;

export async function startAadEmulator(
  opts: { issuer?: TokenIssuer; host?: string; port?: number } = {},
): Promise<AadEmulator> {
  const issuer = opts.issuer ?? (await createTokenIssuer());
  const ca = createCertificateAuthority("pod-identity AAD emulator CA");
  const host = opts.host ?? "127.0.0.1";
  const serverCert = ca.issueServer({ dns: ["localhost"], ips: [host] });
  const apps = new Map<string, App>();
  const tenants = new Set<string>();
  const log: AadRequest[] = [];
  const faults = new AadFaults();
  let latencyMs = 0;
  const appKey = (tenant: string, clientId: string) => `${tenant.toLowerCase()}|${clientId.toLowerCase()}`;
  let authorityHost = "";

  const metadataFor = (tenant: string) => ({
    token_endpoint: `${authorityHost}/${tenant}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${authorityHost}/${tenant}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${authorityHost}/${tenant}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${authorityHost}/${tenant}/openid/userinfo`,
    authorization_endpoint: `${authorityHost}/${tenant}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${authorityHost}/${tenant}/oauth2/v2.0/devicecode`,
    end_session_endpoint: `${authorityHost}/${tenant}/oauth2/v2.0/logout`,
    tenant_region_scope: "NA",
    cloud_instance_name: "microsoftonline.com",
  });

  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store, no-cache" },
    });

  async function token(req: Request, tenant: string, v1: boolean, entry: AadRequest): Promise<Response> {
    const form = new URLSearchParams(await req.text());
    const correlationId = req.headers.get("client-request-id") ?? crypto.randomUUID();
    const fail = (e: AadError) => {
      entry.error = `AADSTS${e.code}`;
      return json(e.status, aadErrorBody(e, authorityHost, correlationId));
    };
    const grantType = form.get("grant_type") ?? "";
    const clientId = form.get("client_id") ?? "";
    entry.grantType = grantType;
    entry.clientId = clientId;
    entry.credential = form.get("client_assertion") ? "assertion" : form.get("client_secret") ? "secret" : "none";
    const injected = faults.take(tenant, clientId);
    if (injected?.kind === "throttled") {
      entry.error = "throttled";
      return new Response("Too Many Requests", {
        status: 429,
        headers: { "content-type": "text/plain", "retry-after": String(injected.retryAfterSeconds) },
      });
    }
    if (injected) {
      const response = fail(injected.error);
      if (injected.retryAfterSeconds !== undefined)
        response.headers.set("retry-after", String(injected.retryAfterSeconds));
      return response;
    }
    if (!tenants.has(tenant.toLowerCase())) return fail(tenantNotFound(tenant));
    if (!grantType) return fail(missingParameter("grant_type"));
    if (grantType !== "client_credentials") return fail(unsupportedGrantType);
    if (!clientId) return fail(missingParameter("client_id"));

    let audience: string;
    if (v1) {
      const resource = form.get("resource");
      if (!resource) return fail(missingParameter("resource"));
      audience = resource;
    } else {
      const scope = form.get("scope");
      if (!scope) return fail(missingParameter("scope"));
      const scopes = scope.split(" ").filter((s) => s !== "");
      const resourceScope = scopes.find((s) => !["openid", "profile", "offline_access"].includes(s)) ?? "";
      if (!resourceScope.endsWith("/.default")) return fail(invalidScope(scope));
      audience = resourceScope.slice(0, -"/.default".length);
    }

    const app = apps.get(appKey(tenant, clientId));
    if (!app) return fail(applicationNotFound(clientId, tenant));
    const assertion = form.get("client_assertion");
    const secret = form.get("client_secret");
    if (assertion) {
      if (form.get("client_assertion_type") !== ASSERTION_TYPE) return fail(missingParameter("client_assertion_type"));
      const endpoint = `${authorityHost}/${tenant}/oauth2/${v1 ? "" : "v2.0/"}token`;
      const problem = await verifyClientAssertion(assertion, clientId, app.certificates, endpoint);
      if (problem) return fail(problem);
    } else if (secret) {
      if (!app.secrets.includes(secret)) return fail(invalidSecret(clientId));
    } else {
      return fail(missingCredential);
    }

    const oid = emulator.servicePrincipalObjectId(tenant, clientId);
    const accessToken = await issuer.issue(
      { oid, appid: clientId, tid: tenant, aud: audience },
      TOKEN_LIFETIME_SECONDS,
    );
    const now = Math.floor(Date.now() / 1000);
    if (v1) {
      return json(200, {
        token_type: "Bearer",
        expires_in: String(TOKEN_LIFETIME_SECONDS),
        ext_expires_in: String(TOKEN_LIFETIME_SECONDS),
        expires_on: String(now + TOKEN_LIFETIME_SECONDS),
        not_before: String(now),
        resource: audience,
        access_token: accessToken,
      });
    }
    return json(200, {
      token_type: "Bearer",
      expires_in: TOKEN_LIFETIME_SECONDS,
      ext_expires_in: TOKEN_LIFETIME_SECONDS,
      access_token: accessToken,
    });
  }

  async function handle(req: Request, entry: AadRequest): Promise<Response> {
    const url = new URL(req.url);
    const match =
      /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|\.well-known\/openid-configuration|discovery\/v2\.0\/keys|discovery\/keys|oauth2\/v2\.0\/token|oauth2\/token)\/?$/.exec(
        url.pathname,
      );
    if (!match) return json(404, { error: "not_found", error_description: `No route for ${url.pathname}` });
    const [, tenant = "", route = ""] = match;
    entry.tenant = tenant;
    if (route.includes("openid-configuration")) {
      if (req.method !== "GET") return json(405, { error: "method_not_allowed" });
      if (!tenants.has(tenant.toLowerCase())) return json(400, aadErrorBody(tenantNotFound(tenant), authorityHost));
      return json(200, metadataFor(tenant));
    }
    if (route.includes("keys")) return json(200, issuer.jwks());
    if (req.method !== "POST") return json(405, { error: "method_not_allowed" });
    return token(req, tenant, route === "oauth2/token", entry);
  }

  const server = Bun.serve({
    hostname: host,
    port: opts.port ?? 0,
    tls: { cert: serverCert.certPem, key: serverCert.keyPem },
    // setLatency may exceed Bun's default 10 s idle timeout, which would drop the connection.
    idleTimeout: 0,
    async fetch(req) {
      const entry: AadRequest = { method: req.method, path: new URL(req.url).pathname, status: 0, at: Date.now() };
      if (latencyMs > 0) await Bun.sleep(latencyMs);
      const response = await handle(req, entry);
      entry.status = response.status;
      log.push(entry);
      return response;
    },
  });
  authorityHost = `https://${host}:${server.port}`;

  const emulator: AadEmulator = {
    authorityHost,
    knownAuthority: `${host}:${server.port}`,
    caPem: ca.certPem,
    addApp(tenantId, clientId, cred) {
      tenants.add(tenantId.toLowerCase());
      const app = apps.get(appKey(tenantId, clientId)) ?? { secrets: [], certificates: [] };
      if (cred.secret) app.secrets.push(cred.secret);
      if (cred.certificatePem) app.certificates.push(registerCertificate(cred.certificatePem));
      apps.set(appKey(tenantId, clientId), app);
    },
    servicePrincipalObjectId: (tenantId, clientId) =>
      deterministicGuid("service-principal", appKey(tenantId, clientId)),
    authorityMetadata: (tenantId) => JSON.stringify(metadataFor(tenantId)),
    requests: () => log.map((r) => ({ ...r })),
    failNext: (fault, faultOpts) => faults.add(fault, faultOpts),
    clearFaults: () => faults.clear(),
    setLatency(ms) {
      latencyMs = Math.max(0, ms);
    },
    async stop() {
      await server.stop(true);
    },
  };
  return emulator;
}

interface NetworkResponse<T> {
  headers: Record<string, string>;
  body: T;
  status: number;
}

/**
 * An msal-node `system.networkClient` that trusts the given CA (Bun's fetch `tls.ca`), so a test
 * process can talk to the https emulator without NODE_EXTRA_CA_CERTS. Test use only.
 */
export function networkClientTrusting(caPem: string) {
  async function send<T>(
    method: "GET" | "POST",
    url: string,
    options?: { headers?: Record<string, string>; body?: string },
  ) {
    const res = await fetch(url, {
      method,
      ...(options?.headers ? { headers: options.headers } : {}),
      ...(options?.body !== undefined ? { body: options.body } : {}),
      tls: { ca: caPem },
    });
    const headers: Record<string, string> = {};
    res.headers.forEach((value, key) => {
      headers[key] = value;
    });
    const response: NetworkResponse<T> = { headers, body: (await res.json()) as T, status: res.status };
    return response;
  }
  return {
    sendGetRequestAsync: <T>(url: string, options?: { headers?: Record<string, string>; body?: string }) =>
      send<T>("GET", url, options),
    sendPostRequestAsync: <T>(url: string, options?: { headers?: Record<string, string>; body?: string }) =>
      send<T>("POST", url, options),
  };
}
