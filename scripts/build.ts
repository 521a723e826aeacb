// Builds dist/pod-identity: one self-contained binary (minified, bytecode, ESM) with the
// client-node TLS shim compiled in. Run with `bun scripts/build.ts` (npm run build).
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { undiciShimPlugin } from "./undici-plugin.ts";

const root = resolve(import.meta.dir, "..");
const outfile = resolve(root, process.argv[2] ?? "dist/pod-identity");

// POD_IDENTITY_COMMIT wins (image builds have no .git); else ask git; else "unknown".
function gitCommit(): string {
  if (process.env.POD_IDENTITY_COMMIT) return process.env.POD_IDENTITY_COMMIT;
  try {
    const result = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stderr: "ignore" });
    return result.exitCode === 0 ? result.stdout.toString().trim() : "unknown";
  } catch {
    return "unknown";
  }
}

mkdirSync(resolve(outfile, ".."), { recursive: true });
const started = performance.now();
const result = await Bun.build({
  entrypoints: [resolve(root, "src/main.ts")],
  compile: { outfile },
  plugins: [undiciShimPlugin],
  minify: true,
  bytecode: true,
  format: "esm",
  target: "bun",
  define: {
    __POD_IDENTITY_VERSION__: JSON.stringify(pkg.version),
    __POD_IDENTITY_COMMIT__: JSON.stringify(gitCommit()),
    __POD_IDENTITY_BUILD_DATE__: JSON.stringify(new Date().toISOString()),
  },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile} in ${Math.round(performance.now() - started)} ms`);
