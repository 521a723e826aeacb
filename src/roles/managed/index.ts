// The managed role (`--role managed`): NMI with request-time identity resolution (§5.8) — namespaced,
// no AzureAssignedIdentity, no waiting; the identities must already be on the node's VM / scale set.
import type { NmiConfig } from "../../config/types.ts";
import type { RoleRunner } from "../contract.ts";
import { runNmi } from "../nmi/wiring/run-nmi.ts";

export const run: RoleRunner<NmiConfig> = (config, ctx) =>
  runNmi({ ...config, operationMode: "managed", forceNamespaced: true }, ctx);
