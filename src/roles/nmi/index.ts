// The NMI role (§1.2): `--role nmi`, standard mode, or managed mode with --operation-mode=managed.
// Everything is put together in wiring/run-nmi.ts.
import type { NmiConfig } from "../../config/types.ts";
import type { RoleRunner } from "../contract.ts";
import { runNmi } from "./wiring/run-nmi.ts";

export const run: RoleRunner<NmiConfig> = (config, ctx) => runNmi(config, ctx);
