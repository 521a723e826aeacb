// MIC's access to ARM, from the cloud config exactly where the original reads it (§4.6): azure.json
// (--cloudconfig), else the admin-secret environment variables; custom clouds through
// AzureStackCloud + AZURE_ENVIRONMENT_FILEPATH. Credentials: service principal secret, or a system-
// or user-assigned managed identity. When azure.json changes the credential and the ARM client are
// rebuilt (credential rotation), as the original's fsnotify watcher did.
//
// Extra CAs (private clouds, the emulators in tests): Bun reads NODE_EXTRA_CA_CERTS at start-up and
// every TLS client of the process (AAD via @azure/identity, ARM via arm-compute) then trusts them.
import type { ArmIdentityClient } from "../../../cloud/arm-identity-client.ts";
import { createArmIdentityClient } from "../../../cloud/arm-identity-client.ts";
import { type CloudConfig, type CloudConfigError, loadCloudConfig } from "../../../cloud/cloud-config.ts";
import { type CloudConfigWatcher, watchCloudConfig } from "../../../cloud/cloud-config-watcher.ts";
import { createArmCredential } from "../../../cloud/credentials.ts";
import type { CloudEnv } from "../../../config/types.ts";
import type { CloudSettings } from "../controller.ts";

/**
 * How often a running ARM update is polled when ARM sends no Retry-After. The original waited 5 s;
 * updates take 10-60 s, so 1 s polls cost a handful of reads and save seconds on every assignment.
 */
export const ARM_POLL_INTERVAL_MS = 1_000;

/** The admin-secret variables, as the cloud layer reads them, rebuilt from the parsed config. */
export function cloudEnvironment(env: CloudEnv): Record<string, string | undefined> {
  return {
    CLOUD: env.cloud,
    TENANT_ID: env.tenantId,
    CLIENT_ID: env.clientId,
    CLIENT_SECRET: env.clientSecret,
    SUBSCRIPTION_ID: env.subscriptionId,
    RESOURCE_GROUP: env.resourceGroup,
    VM_TYPE: env.vmType,
    USE_MSI: env.useMsi ? "true" : "false",
    USER_ASSIGNED_MSI_CLIENT_ID: env.userAssignedMsiClientId,
    AZURE_ENVIRONMENT_FILEPATH: env.azureEnvironmentFilepath,
  };
}

/**
 * What the controller takes from the cloud config: the cluster identity (azure.json
 * userAssignedIdentityID) joins --immutable-user-msis, and the config's subscription and resource group
 * are the fallback scope. Re-derived on every reload. Pure.
 */
export function micCloudSettings(immutableUserMsis: readonly string[], config: CloudConfig): CloudSettings {
  const fallbackScope =
    config.subscriptionId && config.resourceGroup
      ? { subscriptionId: config.subscriptionId, resourceGroup: config.resourceGroup }
      : undefined;
  return { immutableClientIds: [...immutableUserMsis, config.userAssignedIdentityID].filter(Boolean), fallbackScope };
}

export function armClientFor(config: CloudConfig, userAgentPrefix: string): ArmIdentityClient {
  const credential = createArmCredential(config.authentication, {
    authorityHost: config.endpoints.activeDirectoryEndpoint,
  });
  return createArmIdentityClient({
    credential,
    endpoint: config.endpoints.resourceManagerEndpoint,
    audience: config.endpoints.tokenAudience,
    pollIntervalMs: ARM_POLL_INTERVAL_MS,
    userAgentPrefix,
  });
}

export interface MicCloud {
  config(): CloudConfig;
  client(): ArmIdentityClient;
  close(): void;
}

export interface MicCloudOptions {
  path: string;
  env: CloudEnv;
  userAgentPrefix: string;
  onReload?: (config: CloudConfig) => void;
  onError?: (error: CloudConfigError) => void;
}

/** Loads the cloud config (throws CloudConfigError when it is unusable) and keeps the client current. */
export async function openMicCloud(options: MicCloudOptions): Promise<MicCloud> {
  const env = cloudEnvironment(options.env);
  let watcher: CloudConfigWatcher | undefined;
  let config: CloudConfig;
  let client: ArmIdentityClient;
  if (options.path) {
    watcher = await watchCloudConfig({
      path: options.path,
      env,
      onChange: (next) => {
        config = next;
        client = armClientFor(next, options.userAgentPrefix);
        options.onReload?.(next);
      },
      onError: options.onError,
    });
    config = watcher.current();
  } else {
    config = await loadCloudConfig({ env });
  }
  client = armClientFor(config, options.userAgentPrefix);
  return {
    config: () => config,
    client: () => client,
    close: () => watcher?.close(),
  };
}
