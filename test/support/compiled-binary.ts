// The compiled binary for tests that exercise pod-identity as users run it: dist/pod-identity when it is
// fresh (npm test builds it first), else a private build shared by concurrent test files.
//
// Fresh means: newer than every build input (src/**, the build script and its plugin, package.json,
// the lockfiles, tsconfig.json) and, when both are known, built from the commit git calls HEAD (the
// binary's `--version` names it). File times alone miss a binary copied in from another checkout or
// built before a commit landed; the commit alone misses uncommitted edits, hence both.
//
// A private build lives in a temp directory keyed by a digest of the inputs' contents plus HEAD, so
// touching a file without changing it does not rebuild, and is written to a temp name and renamed, so
// nobody runs a half-written binary. Synchronous, so `await compiledBinary()` and plain calls both work.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

const projectRoot = resolve(import.meta.dir, "../..");

/** Files and directories, relative to the project root, whose contents decide what the build produces. */
export const BUILD_INPUTS = [
  "src",
  "scripts/build.ts",
  "scripts/undici-plugin.ts",
  "package.json",
  "bun.lock",
  "package-lock.json",
  "tsconfig.json",
] as const;

/** Private builds older than this are removed when a new one is made (each is ~120 MB). */
const PRIVATE_BUILD_MAX_AGE_MS = 60 * 60 * 1000;

export interface FreshnessOptions {
  /** Project root holding BUILD_INPUTS (default: this repository). */
  root?: string;
  /** The commit a build made now would embed; undefined when unknown (no git). Default: `git rev-parse`. */
  headCommit?: () => string | undefined;
}

export type Freshness = { fresh: true } | { fresh: false; reason: string };

function walk(path: string, into: string[]): void {
  if (!existsSync(path)) return;
  if (!statSync(path).isDirectory()) {
    into.push(path);
    return;
  }
  for (const entry of readdirSync(path).sort()) walk(join(path, entry), into);
}

/** Every existing build input file under `root`, in a stable order. */
export function buildInputFiles(root = projectRoot): string[] {
  const files: string[] = [];
  for (const input of BUILD_INPUTS) walk(resolve(root, input), files);
  return files;
}

/** The newest input file and its mtime. */
function newestInput(root: string): { path: string; mtimeMs: number } {
  let newest = { path: "", mtimeMs: 0 };
  for (const path of buildInputFiles(root)) {
    const mtimeMs = statSync(path).mtimeMs;
    if (mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
  }
  return newest;
}

/** Digest of the inputs' paths and contents (about 1 MB of reading: a few ms). */
export function buildInputsDigest(root = projectRoot): string {
  const hash = createHash("sha256");
  for (const path of buildInputFiles(root)) {
    hash.update(relative(root, path)).update("\0").update(readFileSync(path)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/** `git rev-parse --short=12 HEAD` as scripts/build.ts embeds it; undefined without git. */
export function gitHeadCommit(root = projectRoot): string | undefined {
  if (process.env.POD_IDENTITY_COMMIT) return process.env.POD_IDENTITY_COMMIT;
  try {
    const result = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stderr: "ignore" });
    return result.exitCode === 0 ? result.stdout.toString().trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** The commit `binary --version` reports; undefined when it does not run or says "unknown". */
export function embeddedCommit(binary: string): string | undefined {
  const result = Bun.spawnSync([binary, "--version"], { stdout: "pipe", stderr: "ignore", env: {} });
  if (result.exitCode !== 0) return undefined;
  const commit = /\(commit ([^,\s)]+)/.exec(result.stdout.toString())?.[1];
  return commit && commit !== "unknown" ? commit : undefined;
}

/** Whether `binary` was built from the current inputs, and if not, why. */
export function binaryFreshness(binary: string, options: FreshnessOptions = {}): Freshness {
  const root = options.root ?? projectRoot;
  if (!existsSync(binary)) return { fresh: false, reason: `${binary} does not exist` };
  const built = statSync(binary).mtimeMs;
  const newest = newestInput(root);
  if (newest.mtimeMs >= built) {
    return { fresh: false, reason: `${relative(root, newest.path)} changed after ${binary} was built` };
  }
  const head = (options.headCommit ?? (() => gitHeadCommit(root)))();
  if (head === undefined) return { fresh: true };
  const embedded = embeddedCommit(binary);
  if (embedded === undefined) return { fresh: true };
  // Short hashes of different lengths name the same commit when one is a prefix of the other.
  if (head.startsWith(embedded) || embedded.startsWith(head)) return { fresh: true };
  return { fresh: false, reason: `${binary} was built from commit ${embedded}, HEAD is ${head}` };
}

/** True when `path` was built from the current build inputs (see binaryFreshness). */
export function isFreshBinary(path: string): boolean {
  return binaryFreshness(path).fresh;
}

function pruneOldPrivateBuilds(keep: string): void {
  const now = Date.now();
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith("pod-identity-build-")) continue;
    const dir = join(tmpdir(), name);
    if (dir === keep) continue;
    try {
      // Only old ones: another test run may still be about to start the binary in a recent one.
      if (now - statSync(dir).mtimeMs > PRIVATE_BUILD_MAX_AGE_MS) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Removed concurrently, or not ours to remove.
    }
  }
}

let memo: string | undefined;

/** Path of a compiled pod-identity built from the current sources (decided once per process). */
export function compiledBinary(): string {
  if (memo && existsSync(memo)) return memo;
  const dist = resolve(projectRoot, "dist/pod-identity");
  if (binaryFreshness(dist).fresh) {
    memo = dist;
    return dist;
  }
  const key = `${buildInputsDigest()}-${gitHeadCommit() ?? "nogit"}`;
  const dir = join(tmpdir(), `pod-identity-build-${key}`);
  const binary = join(dir, "pod-identity");
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    pruneOldPrivateBuilds(dir);
    const partial = join(dir, `pod-identity.${process.pid}.partial`);
    const build = Bun.spawnSync([process.execPath, "scripts/build.ts", partial], { cwd: projectRoot, stderr: "pipe" });
    if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
    renameSync(partial, binary);
  }
  memo = binary;
  return binary;
}
