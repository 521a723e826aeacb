// The demo runs the compiled binary users deploy. It is (re)built when missing or older than any
// source file it is built from, so a fresh clone and a just-edited tree both demo the current code.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const root = resolve(import.meta.dir, "../..");
export const binaryPath = resolve(root, "dist/pod-identity");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

export function binaryIsStale(): boolean {
  if (!existsSync(binaryPath)) return true;
  const built = statSync(binaryPath).mtimeMs;
  const sources = Math.max(newestMtime(resolve(root, "src")), statSync(resolve(root, "package-lock.json")).mtimeMs);
  return sources > built;
}

/** Builds dist/pod-identity when stale; returns how long the build took, or undefined when none was needed. */
export async function ensureBinary(): Promise<number | undefined> {
  if (!binaryIsStale()) return undefined;
  const started = performance.now();
  const build = Bun.spawn([process.execPath, resolve(root, "scripts/build.ts")], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(build.stdout).text(), new Response(build.stderr).text()]);
  if ((await build.exited) !== 0) throw new Error(`building dist/pod-identity failed:\n${out}${err}`);
  return performance.now() - started;
}
