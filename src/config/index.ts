// Public face of the configuration layer.
export { effectiveConfigJson, redactSecrets } from "./effective-config.ts";
export { type RoleName, roles } from "./flags-common.ts";
export { formatGoDuration, parseGoDuration } from "./go-duration.ts";
export { type Command, type HostFacts, type ParseOutcome, parseCommandLine } from "./parse.ts";
export type { CloudEnv, LogFormat, LoggingConfig, MicConfig, NmiConfig, RoleConfig } from "./types.ts";
export { waitHelp } from "./wait-help.ts";
export type { WaitCommand, WaitConfig, WaitIdentitySelector, WaitTokenCheck } from "./wait-types.ts";
