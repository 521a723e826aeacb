// test/support/compiled-binary.ts decides when dist/pod-identity may be used: every build input counts
// (the undici plugin included), and the commit the binary reports must be HEAD's. Checked on a fake
// project root with a stand-in "binary" (a shell script printing a --version line).
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BUILD_INPUTS,
  binaryFreshness,
  buildInputFiles,
  buildInputsDigest,
  compiledBinary,
  embeddedCommit,
  gitHeadCommit,
} from "../support/compiled-binary.ts";

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

const HOUR_AGO = (Date.now() - 3_600_000) / 1000;

/** A fake project whose inputs are an hour old, and a binary (built now) reporting `commit`. */
function fakeProject(commit: string): { root: string; binary: string } {
  const root = mkdtempSync(join(tmpdir(), "binary-freshness-"));
  roots.push(root);
  const files = {
    "src/main.ts": "console.log(1)",
    "src/kube/undici-shim.ts": "export {}",
    "scripts/build.ts": "// build",
    "scripts/undici-plugin.ts": "// plugin",
    "package.json": "{}",
    "package-lock.json": "{}",
    "tsconfig.json": "{}",
    "README.md": "not an input",
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
    utimesSync(join(root, path), HOUR_AGO, HOUR_AGO);
  }
  const binary = join(root, "dist/pod-identity");
  mkdirSync(join(root, "dist"));
  writeFileSync(binary, `#!/bin/sh\necho "pod-identity 0.1.0 (commit ${commit}, built 2026-12-01T00:00:00.000Z)"\n`);
  chmodSync(binary, 0o755);
  return { root, binary };
}

const touch = (path: string) => utimesSync(path, new Date(), new Date(Date.now() + 5000));

describe("compiled binary freshness", () => {
  test("the inputs are src/**, the build script, the undici plugin, package.json, the lockfiles and tsconfig", () => {
    const { root } = fakeProject("abc");
    const files = buildInputFiles(root).map((p) => p.slice(root.length + 1));
    expect(files).toEqual([
      "src/kube/undici-shim.ts",
      "src/main.ts",
      "scripts/build.ts",
      "scripts/undici-plugin.ts",
      "package.json",
      "package-lock.json",
      "tsconfig.json",
    ]);
    expect(BUILD_INPUTS).toContain("bun.lock");
  });

  test("fresh when newer than every input and built from HEAD (short hashes of either length)", () => {
    const { root, binary } = fakeProject("da6c76de55fe");
    expect(binaryFreshness(binary, { root, headCommit: () => "da6c76de55fe" })).toEqual({ fresh: true });
    expect(binaryFreshness(binary, { root, headCommit: () => "da6c76d" })).toEqual({ fresh: true });
    // No git (e.g. an image build): file times decide.
    expect(binaryFreshness(binary, { root, headCommit: () => undefined })).toEqual({ fresh: true });
  });

  for (const input of [
    "scripts/undici-plugin.ts",
    "scripts/build.ts",
    "package-lock.json",
    "src/kube/undici-shim.ts",
  ]) {
    test(`stale once ${input} changes after the build`, () => {
      const { root, binary } = fakeProject("abc");
      touch(join(root, input));
      expect(binaryFreshness(binary, { root, headCommit: () => "abc" })).toEqual({
        fresh: false,
        reason: `${input} changed after ${binary} was built`,
      });
    });
  }

  test("a file that is not a build input does not make it stale", () => {
    const { root, binary } = fakeProject("abc");
    touch(join(root, "README.md"));
    expect(binaryFreshness(binary, { root, headCommit: () => "abc" }).fresh).toBe(true);
  });

  test("stale when --version names another commit than HEAD, even with newer file times", () => {
    const { root, binary } = fakeProject("3ad38ec690fa");
    expect(binaryFreshness(binary, { root, headCommit: () => "da6c76de55fe" })).toEqual({
      fresh: false,
      reason: `${binary} was built from commit 3ad38ec690fa, HEAD is da6c76de55fe`,
    });
  });

  test("a binary reporting commit unknown, or not running at all, is judged by file times", () => {
    const { root, binary } = fakeProject("unknown");
    expect(embeddedCommit(binary)).toBeUndefined();
    expect(binaryFreshness(binary, { root, headCommit: () => "abc" }).fresh).toBe(true);
    expect(binaryFreshness(join(root, "dist/missing"), { root })).toMatchObject({ fresh: false });
  });

  test("the private-build key follows contents, not file times", () => {
    const { root } = fakeProject("abc");
    const before = buildInputsDigest(root);
    touch(join(root, "scripts/undici-plugin.ts"));
    expect(buildInputsDigest(root)).toBe(before);
    writeFileSync(join(root, "scripts/undici-plugin.ts"), "// changed plugin");
    expect(buildInputsDigest(root)).not.toBe(before);
  });

  test("compiledBinary() gives a binary that reports this checkout's HEAD", () => {
    const head = gitHeadCommit();
    const started = performance.now();
    const binary = compiledBinary();
    console.log(`compiledBinary() took ${(performance.now() - started).toFixed(0)} ms -> ${binary}`);
    // Without git both sides are unknown; with git the binary must name HEAD.
    expect(embeddedCommit(binary)).toBe(head as string);
  }, 120_000);
});
