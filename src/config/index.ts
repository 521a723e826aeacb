// Public face of the configuration layer.
export { effectiveConfigJson, redactSecrets } from "./effective-config.ts";
export { type RoleName, roles } from "./flags-common.ts";
export { formatGoDuration, parseGoDuration } from "./go-duration.ts";
export { type HostFacts, parseCommandLine } from "./parse.ts";
export type {
  CloudEnv,
  Command,
  LogFormat,
  LoggingConfig,
  MicConfig,
  NmiConfig,
  ParseOutcome,
  RoleConfig,
} from "./types.ts";
