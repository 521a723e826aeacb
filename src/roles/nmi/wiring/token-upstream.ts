// NMI's token sources over src/cloud: the node IMDS (user-assigned and system identities) and AAD
// (service-principal identities, credentials read from their Secret). Upstream failures become
// UpstreamTokenError, which the server maps to the original's statuses (non-200 → 403, else 503). A
// Secret that is missing, unreadable or holds no usable credential is a SecretCredentialError: 503, as
// the original answered for secret-read and PKCS#12 failures (§5.3 step 8); AAD is not asked.
import { type AadClient, AadError, type AadToken } from "../../../cloud/aad-client.ts";
import { getImdsToken, ImdsError, type ImdsToken } from "../../../cloud/imds-client.ts";
import type { AzureIdentity } from "../../../kube/crds.ts";
import { identitySecret } from "../identity-secret.ts";
import { type Token, type TokenUpstream, UpstreamTokenError } from "../ports.ts";
import { credentialFromSecret, SecretCredentialError, type SecretData } from "./secret-credential.ts";

export interface TokenUpstreamOptions {
  /** http://<metadata-ip>:<metadata-port> */
  imdsBaseUrl: string;
  aad: AadClient;
  readSecret: (namespace: string, name: string) => Promise<SecretData>;
  now?: () => number;
}

const seconds = (value: string | undefined, fallback: number) => {
  const parsed = Number(value);
  return Number.isFinite(parsed) && value !== "" && value !== undefined ? parsed : fallback;
};

/** IMDS's or AAD's JSON token as NMI's Token. Pure. */
export function tokenOf(token: ImdsToken | AadToken, clientId: string, nowMs: number): Token {
  const nowSeconds = Math.floor(nowMs / 1000);
  const expiresOn = seconds(token.expires_on, nowSeconds + seconds(token.expires_in, 0));
  return {
    accessToken: token.access_token,
    expiresOnMs: expiresOn * 1000,
    notBeforeMs: seconds(token.not_before, nowSeconds) * 1000,
    resource: token.resource,
    tokenType: token.token_type,
    clientId: token.client_id || clientId,
  };
}

/** A status-0 ImdsError is a transport failure (status null); others keep IMDS's description. */
export function upstreamErrorOfImds(error: ImdsError): UpstreamTokenError {
  const retryAfter = error.retryAfterMs === undefined ? undefined : Math.ceil(error.retryAfterMs / 1000);
  if (error.status === 0 && error.error !== "invalid_response") {
    return new UpstreamTokenError(null, error.errorDescription || error.message, retryAfter);
  }
  return new UpstreamTokenError(error.status || 502, error.errorDescription || error.error, retryAfter);
}

/** AAD refusals (invalid_client …) carry a status so the pod gets 403; network trouble is transient. */
export function upstreamErrorOfAad(error: AadError): UpstreamTokenError {
  const transport = error.code === "network_error" || error.code === "endpoints_resolution_error";
  return new UpstreamTokenError(transport ? null : 401, error.message);
}

export function createTokenUpstream(options: TokenUpstreamOptions): TokenUpstream {
  const now = options.now ?? Date.now;
  return {
    async imds({ clientId, resource, msiResourceId }, signal) {
      try {
        const token = await getImdsToken(
          { resource, ...(clientId ? { clientId } : msiResourceId ? { msiResourceId } : {}) },
          { baseUrl: options.imdsBaseUrl, signal, now },
        );
        return tokenOf(token, clientId, now());
      } catch (error) {
        if (error instanceof ImdsError) throw upstreamErrorOfImds(error);
        throw error;
      }
    },
    async aad(identity: AzureIdentity, resource, signal) {
      const spec = identity.spec;
      // No Secret named: the read below fails with the empty name, as a missing Secret does.
      const { namespace: secretNamespace, name: secretName } = identitySecret(identity) ?? {
        namespace: identity.metadata.namespace || "default",
        name: "",
      };
      let data: SecretData;
      try {
        data = await options.readSecret(secretNamespace, secretName);
      } catch (error) {
        throw new SecretCredentialError(`cannot read secret ${secretNamespace}/${secretName}: ${describe(error)}`);
      }
      let credential: ReturnType<typeof credentialFromSecret>;
      try {
        credential = credentialFromSecret(spec.type, data, `${secretNamespace}/${secretName}`);
      } catch (error) {
        if (error instanceof SecretCredentialError) throw error;
        // e.g. a PKCS#12 that does not decode with its password
        throw new SecretCredentialError(`secret ${secretNamespace}/${secretName}: ${describe(error)}`);
      }
      try {
        const tokens = await options.aad.getTokens(
          {
            tenantId: spec.tenantID,
            clientId: spec.clientID,
            credential,
            resource,
            auxiliaryTenantIds: spec.auxiliaryTenantIDs ?? [],
            ...(spec.adEndpoint ? { adEndpoint: spec.adEndpoint } : {}),
          },
          { signal },
        );
        return tokens.map((token) => tokenOf(token, spec.clientID, now()));
      } catch (error) {
        // An EC key is a credential AAD cannot use, not an AAD refusal (the original panicked: 500).
        if (error instanceof AadError && error.code === "unsupported_certificate_key") {
          throw new SecretCredentialError(`secret ${secretNamespace}/${secretName}: ${error.message}`);
        }
        if (error instanceof AadError) throw upstreamErrorOfAad(error);
        throw new UpstreamTokenError(null, describe(error));
      }
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
