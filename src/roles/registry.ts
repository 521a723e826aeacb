// Role modules are imported lazily so a role only pays for what it uses at start-up (client-node alone
// costs ~250 ms) and --version/--help load none of them. Each entry names its module literally so
// `bun build --compile` bundles it.
//
// A static map, filled in as role modules land: the project's build (Bun.build with the undici plugin)
// fails on an import of a file that does not exist yet, so an entry may only be added together with its
// module. A role without an entry fails at run time with a clear message (exit code 1).
import type { RoleName } from "../config/flags-common.ts";
import type { RoleConfig } from "../config/types.ts";
import type { RoleConfigs, RoleContext, RoleRunner } from "./contract.ts";

// To add a role: `mic: () => import("./mic/index.ts"),` (the module exports `run: RoleRunner<...>`).
const roleModules: Partial<Record<RoleName, () => Promise<unknown>>> = {
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
  if (importModule === undefined) throw new Error(`role ${role} is not part of this build yet`);
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
