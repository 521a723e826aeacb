// Role modules are imported lazily so a role only pays for what it uses at start-up (client-node alone
// costs ~250 ms) and `--version`/`--help` load none of them. Each branch names its module literally so
// `bun build --compile` bundles it.
//
// The `@ts-ignore` lines let the type check pass while a role module is not written yet; a missing module
// is reported at run time ("cannot load role X: ..."), exit code 1. Once all three exist they can go.
import type { RoleName } from "../config/flags-common.ts";
import type { RoleConfigs, RoleRunner } from "./contract.ts";

async function importRoleModule(role: RoleName): Promise<unknown> {
  switch (role) {
    case "mic":
      // biome-ignore lint/suspicious/noTsIgnore: the module may not exist yet (see above)
      // @ts-ignore
      return await import("./mic/index.ts");
    case "nmi":
      // biome-ignore lint/suspicious/noTsIgnore: the module may not exist yet (see above)
      // @ts-ignore
      return await import("./nmi/index.ts");
    case "managed":
      // biome-ignore lint/suspicious/noTsIgnore: the module may not exist yet (see above)
      // @ts-ignore
      return await import("./managed/index.ts");
  }
}

function hasRunFunction(module: unknown): module is { run: (...args: never[]) => unknown } {
  return typeof module === "object" && module !== null && "run" in module && typeof module.run === "function";
}

/** Loads the role's `run`; rejects with a plain message when the module is missing or malformed. */
export async function loadRoleRunner<R extends RoleName>(role: R): Promise<RoleRunner<RoleConfigs[R]>> {
  let module: unknown;
  try {
    module = await importRoleModule(role);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot load role ${role}: ${reason}`);
  }
  if (!hasRunFunction(module)) throw new Error(`role ${role} module does not export a run function`);
  return module.run as RoleRunner<RoleConfigs[R]>;
}
