import { describe, expect, test } from "bun:test";
import { type ParseOutcome, parseCommandLine, type WaitConfig } from "../../src/config/index.ts";

function waitConfig(args: string[], env: Record<string, string | undefined> = {}): WaitConfig {
  const outcome: ParseOutcome = parseCommandLine(["wait", ...args], env);
  if (!outcome.ok) throw new Error(`expected success, got: ${outcome.message}`);
  if (outcome.command.kind !== "wait") throw new Error(`expected a wait command, got ${outcome.command.kind}`);
  return outcome.command.config;
}

function refusal(args: string[], env: Record<string, string | undefined> = {}): string {
  const outcome = parseCommandLine(["wait", ...args], env);
  if (outcome.ok) throw new Error(`expected a failure for ${JSON.stringify(args)}`);
  expect(outcome.exitCode).toBe(2);
  expect(outcome.message).not.toContain("\n");
  expect(outcome.message.startsWith("pod-identity wait: ")).toBe(true);
  return outcome.message;
}

describe("pod-identity wait: defaults", () => {
  test("probe on 127.0.0.1:8085, 120s timeout, 1s interval, no token check", () => {
    expect(waitConfig([])).toEqual({
      nmiHost: "127.0.0.1",
      nmiProbePort: 8085,
      timeoutMs: 120_000,
      intervalMs: 1000,
      quiet: false,
    });
  });

  test("HOST_IP is the default NMI host; --nmi-host wins over it", () => {
    expect(waitConfig([], { HOST_IP: "10.240.0.4" }).nmiHost).toBe("10.240.0.4");
    expect(waitConfig(["--nmi-host", "node-1.internal"], { HOST_IP: "10.240.0.4" }).nmiHost).toBe("node-1.internal");
    expect(waitConfig([], { HOST_IP: "" }).nmiHost).toBe("127.0.0.1");
  });

  test("a malformed HOST_IP is refused naming the variable", () => {
    expect(refusal([], { HOST_IP: "not a host!" })).toContain("HOST_IP");
  });

  test("the token goes to the metadata address by default", () => {
    const config = waitConfig(["--token", "--resource", "https://vault.azure.net"]);
    expect(config.token).toEqual({ resource: "https://vault.azure.net", metadataUrl: "http://169.254.169.254" });
  });
});

describe("pod-identity wait: flag spellings and values", () => {
  test("Go durations and Go flag spellings", () => {
    const config = waitConfig(["-timeout=2m30s", "--interval", "250ms", "-nmi-probe-port", "9085", "--quiet"]);
    expect(config).toMatchObject({ timeoutMs: 150_000, intervalMs: 250, nmiProbePort: 9085, quiet: true });
  });

  test("identity selectors become the IMDS query parameters; expectations are kept as given", () => {
    const base = ["--token", "--resource=r"];
    expect(waitConfig([...base, "--client-id", "C"]).token?.selector).toEqual({ param: "client_id", value: "C" });
    expect(waitConfig([...base, "--resource-id", "/subscriptions/s/x"]).token?.selector).toEqual({
      param: "msi_res_id",
      value: "/subscriptions/s/x",
    });
    expect(waitConfig([...base, "--object-id", "O"]).token?.selector).toEqual({ param: "object_id", value: "O" });
    expect(waitConfig([...base, "--expect-client-id", "aBc", "--expect-object-id", "DeF"]).token).toMatchObject({
      expectClientId: "aBc",
      expectObjectId: "DeF",
    });
  });

  test("--metadata-url loses its trailing slash", () => {
    const config = waitConfig(["--token", "--resource=r", "--metadata-url", "http://127.0.0.1:1234/"]);
    expect(config.token?.metadataUrl).toBe("http://127.0.0.1:1234");
  });

  test("IPv6 NMI hosts are accepted", () => {
    expect(waitConfig(["--nmi-host", "fd00::4"]).nmiHost).toBe("fd00::4");
  });

  test("--help and -h give the wait help, which lists every exit code", () => {
    for (const flag of ["--help", "-h"]) {
      const outcome = parseCommandLine(["wait", flag], {});
      if (!outcome.ok || outcome.command.kind !== "help") throw new Error("expected help");
      expect(outcome.command.text).toContain("Usage: pod-identity wait");
      for (const code of [0, 1, 2, 3, 4]) expect(outcome.command.text).toMatch(new RegExp(`^ {2}${code} {2}\\S`, "m"));
      expect(outcome.command.text).toContain("--expect-object-id");
    }
  });
});

describe("pod-identity wait: refusals exit 2 with one line", () => {
  test.each([
    [["--timeout", "0s"], "--timeout"],
    [["--timeout", "soon"], "--timeout"],
    [["--interval", "-1s"], "--interval"],
    [["--nmi-probe-port", "70000"], "--nmi-probe-port"],
    [["--nmi-host", "bad host"], "--nmi-host"],
    [["--token", "--resource=r", "--metadata-url", "ftp://x"], "--metadata-url"],
    [["--token", "--resource=r", "--metadata-url", "http://x/?a=1"], "--metadata-url"],
    [["--nope"], "unknown flag --nope"],
    [["extra"], 'unexpected argument "extra"'],
    [["--token"], "--token needs --resource"],
    [["--resource", "r"], "--resource needs --token"],
    [["--expect-client-id", "c"], "--expect-client-id needs --token"],
    [["--metadata-url", "http://127.0.0.1:1"], "--metadata-url needs --token"],
    [["--token", "--resource=r", "--client-id=c", "--resource-id=x"], "at most one of"],
    [["--role", "nmi"], "unknown flag --role"],
  ])("%p is refused, naming %p", (args, naming) => {
    expect(refusal(args)).toContain(naming);
  });
});

test("role command lines are unaffected by the wait subcommand", () => {
  const outcome = parseCommandLine(["--role", "nmi", "--validate-config"], { NODE_NAME: "n" });
  expect(outcome.ok && outcome.command.kind).toBe("validate");
});
