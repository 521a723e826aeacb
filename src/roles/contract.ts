// What every role module exports as `run`: the role's whole lifetime. It resolves with the process exit
// code once ctx.signal is aborted (SIGTERM/SIGINT) and the role has shut down, or earlier on a fatal
// condition. Roles never call process.exit; src/main.ts turns the result into the exit code.
import type { MicConfig, NmiConfig } from "../config/types.ts";
import type { Logger } from "../observability/logger.ts";
import type { MetricsRegistry } from "../observability/metrics.ts";

export interface RoleContext {
  logger: Logger;
  metrics: MetricsRegistry;
  /** Aborted on the first SIGTERM or SIGINT; a second signal ends the process at once. */
  signal: AbortSignal;
}

export type RoleRunner<C> = (config: C, ctx: RoleContext) => Promise<number>;

/** The config type each role's `run` receives. `managed` gets an NmiConfig with operationMode "managed". */
export interface RoleConfigs {
  mic: MicConfig;
  nmi: NmiConfig;
  managed: NmiConfig;
}
