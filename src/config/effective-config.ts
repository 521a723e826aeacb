// What --validate-config prints: the effective configuration as JSON, with secrets replaced.
import type { RoleConfig } from "./types.ts";

export const redactedMarker = "[REDACTED]";

export function redactSecrets(config: RoleConfig): RoleConfig {
  if (config.role !== "mic" || config.cloudEnv.clientSecret === undefined) return config;
  return { ...config, cloudEnv: { ...config.cloudEnv, clientSecret: redactedMarker } };
}

export function effectiveConfigJson(config: RoleConfig): string {
  return JSON.stringify(redactSecrets(config), null, 2);
}
