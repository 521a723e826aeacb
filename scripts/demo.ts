// The README's first command. Until the full demo lands, it builds the binary and shows its help.
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const binary = resolve(root, "dist/pod-identity");
if (!existsSync(binary)) {
  const build = Bun.spawnSync([process.execPath, resolve(root, "scripts/build.ts")], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (build.exitCode !== 0) process.exit(build.exitCode ?? 1);
}
const run = Bun.spawnSync([binary, "--version"], { stdio: ["ignore", "inherit", "inherit"] });
process.exit(run.exitCode ?? 1);
