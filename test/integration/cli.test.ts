// Exercises the compiled binary as users run it. Uses dist/pod-identity when it is newer than every
// source file (npm test builds it first); otherwise builds a private copy in a temp directory, so
// concurrent test files never read a half-written binary.
import { beforeAll, describe, expect, test } from "bun:test";
import { compiledBinary } from "../support/compiled-binary.ts";

let binary = "";

beforeAll(async () => {
  binary = await compiledBinary();
}, 120_000);

function run(args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync([binary, ...args], { env: { PATH: process.env.PATH ?? "", ...env } });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("compiled pod-identity", () => {
  test("--version prints version, commit and build date and exits 0", () => {
    const started = performance.now();
    const result = run(["--version"]);
    const elapsed = performance.now() - started;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^pod-identity \d+\.\d+\.\d+\S* \(commit (?:[0-9a-f]{7,40}|unknown), built \d{4}-\d{2}-\d{2}T[^)]+\)\n$/,
    );
    expect(result.stdout).not.toContain("dev");
    // Reported, not asserted: timings depend on the machine.
    console.log(`pod-identity --version took ${elapsed.toFixed(0)} ms`);
  });

  test("--role nmi --help prints the NMI flags on stdout", () => {
    const result = run(["--role", "nmi", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Usage: pod-identity --role nmi");
    expect(result.stdout).toMatch(/--nmi-port port +.*\(default 2579\)/);
    expect(result.stdout).toContain("--metadata-header-required");
  });

  test("--help without a role lists the roles", () => {
    const result = run(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ {2}managed /m);
  });

  test("--validate-config prints the effective configuration as JSON with secrets redacted", () => {
    const result = run(["-role=mic", "--validate-config", "-syncRetryDuration=2h", "--prometheus-port", "9999"], {
      MIC_POD_NAMESPACE: "aad",
      CLIENT_SECRET: "very-secret-value",
    });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain("very-secret-value");
    const config = JSON.parse(result.stdout);
    expect(config).toMatchObject({
      role: "mic",
      syncRetryDurationMs: 7_200_000,
      prometheusPort: 9999,
      micPodNamespace: "aad",
      cloudEnv: { clientSecret: "[REDACTED]" },
    });
  });

  test("--role managed --validate-config reports namespaced managed mode", () => {
    const result = run(["--role=managed", "--validate-config"], { NODE_NAME: "node-7" });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      role: "managed",
      operationMode: "managed",
      forceNamespaced: true,
      node: "node-7",
    });
  });

  test("a bad flag value exits 2 with one line naming flag and value, and no stack trace", () => {
    const result = run(["--role", "nmi", "--nmi-port=abc"], { NODE_NAME: "n" });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      'pod-identity: invalid value "abc" for flag --nmi-port: expected a port number 1-65535\n',
    );
  });

  test("an unknown flag exits 2 naming it", () => {
    const result = run(["--role", "nmi", "--nope"], { NODE_NAME: "n" });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("unknown flag --nope");
  });

  test("MIC without MIC_POD_NAMESPACE exits 2 naming the variable", () => {
    const result = run(["--role", "mic"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("MIC_POD_NAMESPACE");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
