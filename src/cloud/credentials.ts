// MIC's ARM credential from the cloud config (cloud-config.ts), through @azure/identity:
// - service principal: ClientSecretCredential at the cloud's AAD authority host, no instance discovery;
//   extra CA certificates (PEM) can be trusted by option (private clouds, the AAD emulator);
// - managed identity: ManagedIdentityCredential, system-assigned or user-assigned by client ID. It
//   talks to IMDS at 169.254.169.254 unless the process environment has AZURE_POD_IDENTITY_AUTHORITY_HOST
//   (read by @azure/identity itself; tests run it in a subprocess with that variable set).
// - `imdsEndpoint` (explicit IMDS base URL, e.g. an emulator): a small credential over imds-client.ts
//   instead, so nothing depends on process-wide environment variables.
import {
  type AccessToken,
  ClientSecretCredential,
  type GetTokenOptions,
  ManagedIdentityCredential,
  type TokenCredential,
} from "@azure/identity";
import { coreHttpClient, fetchTrustingCa } from "./aad-transport.ts";
import type { ArmAuthentication } from "./cloud-config.ts";
import { getImdsToken } from "./imds-client.ts";

export interface ArmCredentialOptions {
  /** AAD authority host for a service principal, e.g. the cloud's activeDirectoryEndpoint. */
  authorityHost: string;
  /** Extra CA certificates (PEM) to trust for AAD. */
  caPem?: string;
  /** Explicit IMDS base URL for managed identities; default: @azure/identity's own resolution. */
  imdsEndpoint?: string;
}

/** "https://management.azure.com/.default" → "https://management.azure.com" (IMDS's resource form). */
export function resourceForScopes(scopes: string | string[]): string {
  const list = Array.isArray(scopes) ? scopes : [scopes];
  if (list.length !== 1 || !list[0]) throw new Error("exactly one scope is supported");
  return list[0].replace(/\/\.default$/, "");
}

/** TokenCredential over a given IMDS (managed identity, optionally by client ID). */
export class ImdsTokenCredential implements TokenCredential {
  readonly #baseUrl: string;
  readonly #clientId: string | undefined;
  constructor(baseUrl: string, clientId?: string) {
    this.#baseUrl = baseUrl;
    this.#clientId = clientId;
  }
  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    const token = await getImdsToken(
      { resource: resourceForScopes(scopes), clientId: this.#clientId },
      { baseUrl: this.#baseUrl, signal: options?.abortSignal as AbortSignal | undefined },
    );
    return { token: token.access_token, expiresOnTimestamp: Number(token.expires_on) * 1000, tokenType: "Bearer" };
  }
}

export function createArmCredential(auth: ArmAuthentication, options: ArmCredentialOptions): TokenCredential {
  switch (auth.method) {
    case "servicePrincipal":
      return new ClientSecretCredential(auth.tenantId, auth.clientId, auth.clientSecret, {
        authorityHost: options.authorityHost,
        disableInstanceDiscovery: true,
        ...(options.caPem ? { httpClient: coreHttpClient(fetchTrustingCa(options.caPem)) } : {}),
      });
    case "systemAssignedIdentity":
      return options.imdsEndpoint ? new ImdsTokenCredential(options.imdsEndpoint) : new ManagedIdentityCredential();
    case "userAssignedIdentity":
      return options.imdsEndpoint
        ? new ImdsTokenCredential(options.imdsEndpoint, auth.clientId)
        : new ManagedIdentityCredential({ clientId: auth.clientId });
  }
}
