// The compiled binary for tests that exercise pod-identity as users run it: dist/pod-identity when it is
// newer than every source file (npm test builds it first), else a private build shared by concurrent
// test files (keyed by the sources' newest mtime, written to a temp name and renamed, so nobody runs a
// half-written binary). Synchronous, so `await compiledBinary()` and plain calls both work.
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function newestInput(): number {
  return Math.max(
    newestMtime(resolve(root, "src")),
    ...[resolve(root, "package.json"), resolve(root, "scripts/build.ts")].map((p) => statSync(p).mtimeMs),
  );
}

/** True when `path` exists and is newer than src/, package.json and the build script. */
export function isFreshBinary(path: string): boolean {
  return existsSync(path) && statSync(path).mtimeMs > newestInput();
}

/** Path of a compiled pod-identity built from the current sources. */
export function compiledBinary(): string {
  const newest = newestInput();
  const dist = resolve(root, "dist/pod-identity");
  if (existsSync(dist) && statSync(dist).mtimeMs > newest) return dist;
  const dir = join(tmpdir(), `pod-identity-build-${Math.floor(newest)}`);
  const binary = join(dir, "pod-identity");
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const partial = join(dir, `pod-identity.${process.pid}.partial`);
  const build = Bun.spawnSync([process.execPath, "scripts/build.ts", partial], { cwd: root, stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
  renameSync(partial, binary);
  return binary;
}
