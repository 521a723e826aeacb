// The compiled binary for tests that exercise pod-identity as users run it. Uses dist/pod-identity when
// it is newer than every source file (npm test builds it first); otherwise builds a private copy in a
// temp directory once per test process, so concurrent test files never read a half-written binary.
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const distBinary = resolve(root, "dist/pod-identity");
let pending: Promise<string> | undefined;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** True when `path` exists and is newer than src/, package.json and the build script. */
export function isFreshBinary(path: string): boolean {
  try {
    const inputs = [resolve(root, "package.json"), resolve(root, "scripts/build.ts")].map((p) => statSync(p).mtimeMs);
    return statSync(path).mtimeMs > Math.max(newestMtime(resolve(root, "src")), ...inputs);
  } catch {
    return false;
  }
}

async function build(): Promise<string> {
  if (isFreshBinary(distBinary)) return distBinary;
  const binary = join(mkdtempSync(join(tmpdir(), "pod-identity-bin-")), "pod-identity");
  const child = Bun.spawn([process.execPath, "scripts/build.ts", binary], {
    cwd: root,
    stdout: "ignore",
    stderr: "pipe",
  });
  if ((await child.exited) !== 0) throw new Error(`build failed: ${await new Response(child.stderr).text()}`);
  return binary;
}

/** Path of an up-to-date compiled pod-identity; builds at most once per test process. */
export function compiledBinary(): Promise<string> {
  pending ??= build();
  return pending;
}
