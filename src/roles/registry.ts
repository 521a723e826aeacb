// Role modules are imported lazily so a role only pays for what it uses at start-up (client-node alone
// costs ~250 ms) and --version/--help load none of them. Each entry names its module literally so
// `bun build --compile` bundles it.
import type { RoleName } from "../config/flags-common.ts";
import type { RoleConfig } from "../config/types.ts";
import type { RoleConfigs, RoleContext, RoleRunner } from "./contract.ts";

// Each module exports `run: RoleRunner<...>`.
const roleModules: Record<RoleName, () => Promise<unknown>> = {
  mic: () => import("./mic/index.ts"),
  nmi: () => import("./nmi/index.ts"),
  managed: () => import("./managed/index.ts"),
};

function hasRunFunction(module: unknown): module is { run: (...args: never[]) => unknown } {
  return typeof module === "object" && module !== null && "run" in module && typeof module.run === "function";
}

/** Loads the role's `run`; rejects with a plain message when the module is missing or malformed. */
export async function loadRoleRunner<R extends RoleName>(role: R): Promise<RoleRunner<RoleConfigs[R]>> {
  const importModule = roleModules[role];
  let module: unknown;
  try {
    module = await importModule();
  } catch (error) {
    throw new Error(`cannot load role ${role}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!hasRunFunction(module)) throw new Error(`role ${role} module does not export a run function`);
  // The module's own type check guarantees the signature; only its presence is checked here.
  return module.run as RoleRunner<RoleConfigs[R]>;
}

/** Loads the module of the config's role and binds the config: what main.ts starts. */
export async function loadRoleStarter(config: RoleConfig): Promise<(ctx: RoleContext) => Promise<number>> {
  switch (config.role) {
    case "mic": {
      const run = await loadRoleRunner("mic");
      return (ctx) => run(config, ctx);
    }
    case "managed": {
      const run = await loadRoleRunner("managed");
      return (ctx) => run(config, ctx);
    }
    case "nmi": {
      const run = await loadRoleRunner("nmi");
      return (ctx) => run(config, ctx);
    }
  }
}
