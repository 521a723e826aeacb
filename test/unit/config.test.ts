import { describe, expect, test } from "bun:test";
import {
  effectiveConfigJson,
  type MicConfig,
  type NmiConfig,
  type ParseOutcome,
  parseCommandLine,
  parseGoDuration,
} from "../../src/config/index.ts";

const host = { hostname: "mic-host-1" };
const micEnv = { MIC_POD_NAMESPACE: "kube-system" };
const nmiEnv = { NODE_NAME: "aks-node-1" };

function command(outcome: ParseOutcome) {
  if (!outcome.ok) throw new Error(`expected success, got: ${outcome.message}`);
  return outcome.command;
}

function runConfig(argv: string[], env: Record<string, string | undefined>) {
  const parsed = command(parseCommandLine(argv, env, host));
  if (parsed.kind !== "run") throw new Error(`expected a run command, got ${parsed.kind}`);
  return parsed.config;
}

function mic(argv: string[] = [], env: Record<string, string | undefined> = micEnv): MicConfig {
  const config = runConfig(["--role", "mic", ...argv], env);
  if (config.role !== "mic") throw new Error("expected a MIC config");
  return config;
}

function nmi(argv: string[] = [], env: Record<string, string | undefined> = nmiEnv, role = "nmi"): NmiConfig {
  const config = runConfig(["--role", role, ...argv], env);
  if (config.role === "mic") throw new Error("expected an NMI config");
  return config;
}

function failure(argv: string[], env: Record<string, string | undefined> = {}): string {
  const outcome = parseCommandLine(argv, env, host);
  if (outcome.ok) throw new Error(`expected a failure for ${JSON.stringify(argv)}`);
  expect(outcome.exitCode).toBe(2);
  expect(outcome.message).not.toContain("\n");
  expect(outcome.message.startsWith("pod-identity: ")).toBe(true);
  return outcome.message;
}

describe("MIC flags default to the original's values (reference §2.1)", () => {
  const defaults: [keyof MicConfig, unknown][] = [
    ["kubeconfig", ""],
    ["cloudconfig", ""],
    ["forceNamespaced", false],
    ["syncRetryDurationMs", 3_600_000],
    ["leaderElectionInstance", "mic-host-1"],
    ["leaderElectionNamespace", "default"],
    ["leaderElectionName", "aad-pod-identity-mic"],
    ["leaderElectionDurationMs", 15_000],
    ["httpProbePort", 8080],
    ["prometheusPort", 8888],
    ["enableProfile", false],
    ["enableScaleFeatures", false],
    ["createDeleteBatch", 20],
    // Changed on purpose (the original: 5): see flags-mic.ts and the README.
    ["clientQps", 50],
    ["immutableUserMsis", []],
    ["configMapName", "aad-pod-identity-config"],
    ["typeUpgradeStatusKey", "type-upgrade-status"],
    ["enableTypeUpgrade", true],
    ["updateUserMsiMaxRetry", 2],
    ["updateUserMsiRetryIntervalMs", 1000],
    ["identityAssignmentReconcileIntervalMs", 180_000],
    ["unassignGracePeriodMs", 30_000],
    ["customUserAgent", ""],
    ["micPodNamespace", "kube-system"],
  ];
  const config = mic();
  test.each(defaults)("%s", (key, expected) => {
    const actual: unknown = config[key];
    expect(actual).toEqual(expected);
  });
  test("logging defaults to text at verbosity 0", () => {
    expect(config.logging.format).toBe("text");
    expect(config.logging.verbosity).toBe(0);
    expect(config.logging.logtostderr).toBe(true);
  });
});

describe("NMI flags default to the original's values (reference §2.2)", () => {
  const defaults: [keyof NmiConfig, unknown][] = [
    ["role", "nmi"],
    ["operationMode", "standard"],
    ["nmiListenAddress", "127.0.0.1"],
    ["nmiPort", 2579],
    ["metadataIp", "169.254.169.254"],
    ["metadataPort", 80],
    ["node", "aks-node-1"],
    ["iptUpdateIntervalMs", 60_000],
    ["forceNamespaced", false],
    ["micNamespace", "default"],
    ["httpProbePort", 8080],
    ["retryAttemptsForCreated", 16],
    ["retryAttemptsForAssigned", 4],
    ["findIdentityRetryIntervalMs", 5000],
    ["enableProfile", false],
    ["enableScaleFeatures", true],
    ["blockInstanceMetadata", false],
    ["metadataHeaderRequired", true],
    ["prometheusPort", 9090],
    ["allowNetworkPluginKubenet", false],
    ["kubeletConfig", "/etc/default/kubelet"],
    ["setRetryAfterHeader", false],
    ["enableConntrackDeletion", false],
    ["kubeconfig", ""],
    ["cleanup", false],
    ["tokenCache", true],
    ["tokenCacheMaxAgeMs", 3_600_000],
    ["tokenRefreshBeforeMs", 300_000],
    ["imdsMaxConcurrent", 5],
    ["imdsMaxRps", 20],
    ["identityPropagationRetryMs", 60_000],
    ["maxHeaderBytes", 16384],
  ];
  const config = nmi();
  test.each(defaults)("%s", (key, expected) => {
    const actual: unknown = config[key];
    expect(actual).toEqual(expected);
  });
});

describe("spellings existing manifests use", () => {
  test.each([[["--nmi-port=3000"]], [["--nmi-port", "3000"]], [["-nmi-port=3000"]], [["-nmi-port", "3000"]]])(
    "%p sets the NMI port",
    (argv) => {
      expect(nmi(argv).nmiPort).toBe(3000);
    },
  );

  test.each(["1", "t", "T", "true", "TRUE", "True"])("--block-instance-metadata=%s is true", (text) => {
    expect(nmi([`--block-instance-metadata=${text}`]).blockInstanceMetadata).toBe(true);
  });

  test.each(["0", "f", "F", "false", "FALSE", "False"])("--metadata-header-required=%s is false", (text) => {
    expect(nmi([`--metadata-header-required=${text}`]).metadataHeaderRequired).toBe(false);
  });

  test("a boolean flag without a value means true, with one or two dashes", () => {
    expect(nmi(["--set-retry-after-header"]).setRetryAfterHeader).toBe(true);
    expect(mic(["-forceNamespaced"]).forceNamespaced).toBe(true);
  });

  test("a boolean followed by a separate true/false is rejected with the right spelling", () => {
    const message = failure(["--role", "nmi", "--forceNamespaced", "true"], nmiEnv);
    expect(message).toContain("--forceNamespaced=true");
  });

  test("klog -v and --v set the verbosity; other klog flags are accepted", () => {
    expect(mic(["-v=4"]).logging.verbosity).toBe(4);
    expect(mic(["--v", "6"]).logging.verbosity).toBe(6);
    const config = nmi([
      "--logtostderr",
      "--alsologtostderr=false",
      "--vmodule=foo=2",
      "--log_dir=/tmp",
      "--stderrthreshold=WARNING",
      "--add_dir_header",
      "--skip_headers",
    ]);
    expect(config.logging.stderrthreshold).toBe(1);
    expect(config.logging.vmodule).toBe("foo=2");
    expect(config.logging.skipHeaders).toBe(true);
  });

  test("the chart's MIC arguments parse", () => {
    const config = mic(["--cloudconfig=/etc/kubernetes/azure.json", "--logtostderr"]);
    expect(config.cloudconfig).toBe("/etc/kubernetes/azure.json");
  });

  test("the chart's NMI arguments parse", () => {
    const config = nmi([
      "--node=aks-node-2",
      "--http-probe-port=8085",
      "--enableScaleFeatures=true",
      "--metadata-header-required=true",
      "--operation-mode=standard",
      "--kubelet-config=/etc/default/kubelet",
    ]);
    expect(config.node).toBe("aks-node-2");
    expect(config.httpProbePort).toBe(8085);
  });

  test("the last occurrence of a repeated flag wins, as in Go", () => {
    expect(nmi(["--nmi-port=1000", "--nmi-port=2000"]).nmiPort).toBe(2000);
  });

  test("--log-format json, --custom-user-agent and --enableProfile are accepted by both roles", () => {
    const config = mic(["--log-format=json", "--custom-user-agent=team-a", "--enableProfile"]);
    expect(config.logging.format).toBe("json");
    expect(config.customUserAgent).toBe("team-a");
    expect(nmi(["--log-format", "json", "--enableProfile=true"]).enableProfile).toBe(true);
  });

  test("--immutable-user-msis splits a comma-separated list", () => {
    expect(mic(["--immutable-user-msis=aaa, bbb,,ccc"]).immutableUserMsis).toEqual(["aaa", "bbb", "ccc"]);
  });

  test("--operation-mode is case-insensitive", () => {
    expect(nmi(["--operation-mode=Managed", "--forceNamespaced"]).operationMode).toBe("managed");
  });
});

describe("Go durations", () => {
  test.each([
    ["3600s", 3_600_000],
    ["1h", 3_600_000],
    ["3m", 180_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["1.5h", 5_400_000],
    ["2h45m30.5s", 9_930_500],
    ["1000us", 1],
    ["0", 0],
    ["-1m", -60_000],
  ])("%s is %d ms", (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 6);
  });

  test.each(["", "10", "1d", "h", "1h 30m", ".s", "abc", "1.2.3s"])("%p is not a duration", (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });

  test("duration flags convert to milliseconds", () => {
    const config = mic(["--syncRetryDuration=90m", "--leader-election-duration", "30s", "--unassign-grace-period=0s"]);
    expect(config.syncRetryDurationMs).toBe(5_400_000);
    expect(config.leaderElectionDurationMs).toBe(30_000);
    expect(config.unassignGracePeriodMs).toBe(0);
    expect(nmi(["--token-refresh-before=90s", "--identity-propagation-retry=2m"]).tokenRefreshBeforeMs).toBe(90_000);
  });

  test("integer-seconds flags of NMI convert to milliseconds", () => {
    const config = nmi(["--ipt-update-interval-sec=10", "--find-identity-retry-interval=2"]);
    expect(config.iptUpdateIntervalMs).toBe(10_000);
    expect(config.findIdentityRetryIntervalMs).toBe(2000);
  });
});

describe("bad input exits 2 with one line naming the flag and value", () => {
  test.each([
    [["--role", "nmi", "--nmi-port=abc"], "--nmi-port", "abc", "port number 1-65535"],
    [["--role", "nmi", "--nmi-port=70000"], "--nmi-port", "70000", "port number"],
    [["--role", "nmi", "--metadata-port=0"], "--metadata-port", '"0"', "port number"],
    [["--role", "mic", "--http-probe-port="], "--http-probe-port", '""', "port number"],
    [["--role", "nmi", "--metadata-ip=1.2.3"], "--metadata-ip", "1.2.3", "IPv4 or IPv6"],
    [["--role", "nmi", "--nmi-listen-address", "localhost"], "--nmi-listen-address", "localhost", "IP"],
    [["--role", "mic", "--syncRetryDuration=10"], "--syncRetryDuration", "10", "Go duration"],
    [["--role", "mic", "--leader-election-duration=0s"], "--leader-election-duration", "0s", "positive"],
    [["--role", "nmi", "--token-cache-max-age=-1h"], "--token-cache-max-age", "-1h", "non-negative"],
    [["--role", "mic", "--clientQps=fast"], "--clientQps", "fast", "number"],
    [["--role", "mic", "--createDeleteBatch=0"], "--createDeleteBatch", '"0"', "integer >= 1"],
    [["--role", "nmi", "--retry-attempts-for-created=x"], "--retry-attempts-for-created", "x", "integer"],
    [["--role", "nmi", "--imds-max-rps=2.5"], "--imds-max-rps", "2.5", "integer"],
    [["--role", "nmi", "--ipt-update-interval-sec=0"], "--ipt-update-interval-sec", '"0"', "seconds"],
    [["--role", "nmi", "--block-instance-metadata=yes"], "--block-instance-metadata", "yes", "boolean"],
    [["--role", "nmi", "--operation-mode=auto"], "--operation-mode", "auto", "standard, managed"],
    [["--role", "mic", "--log-format=xml"], "--log-format", "xml", "text, json"],
    [["--role", "mic", "-v=-1"], "-v", "-1", "integer"],
    [["--role=controller"], "--role", "controller", "mic, nmi, managed"],
  ])("%p", (argv, flag, value, expected) => {
    const message = failure(argv, { ...micEnv, ...nmiEnv });
    expect(message).toContain(`flag ${flag}:`);
    expect(message).toContain(value);
    expect(message).toContain(expected);
  });

  test("an unknown flag is named", () => {
    expect(failure(["--role", "nmi", "--no-such-flag=1"], nmiEnv)).toContain("unknown flag --no-such-flag");
  });

  test("a flag of the other role is rejected, naming the flag and the role", () => {
    const message = failure(["--role", "mic", "--nmi-port=2579"], micEnv);
    expect(message).toContain("--nmi-port");
    expect(message).toContain("--role mic");
  });

  test("a value flag at the end without its value is reported", () => {
    expect(failure(["--role", "nmi", "--node"], nmiEnv)).toContain("flag needs an argument: --node");
  });

  test("a stray positional argument is reported", () => {
    expect(failure(["--role", "nmi", "serve"], nmiEnv)).toContain('unexpected argument "serve"');
    expect(failure(["--role", "nmi", "--", "--nmi-port=1"], nmiEnv)).toContain("unexpected argument");
  });

  test("a missing role is reported", () => {
    expect(failure([])).toContain("missing --role");
    expect(failure(["--nmi-port=2579"])).toContain("missing --role");
  });
});

describe("environment", () => {
  test("MIC without MIC_POD_NAMESPACE fails with the original's message naming the variable", () => {
    const message = failure(["--role", "mic"], {});
    expect(message).toContain("MIC_POD_NAMESPACE");
  });

  test("MIC's --version works without MIC_POD_NAMESPACE (deliberate difference from the original)", () => {
    expect(command(parseCommandLine(["--role", "mic", "--version"], {}, host)).kind).toBe("version");
  });

  test("FORCENAMESPACED=true forces namespaced mode; other values do not", () => {
    expect(mic([], { ...micEnv, FORCENAMESPACED: "true" }).forceNamespaced).toBe(true);
    expect(mic([], { ...micEnv, FORCENAMESPACED: "false" }).forceNamespaced).toBe(false);
    expect(nmi([], { ...nmiEnv, FORCENAMESPACED: "true" }).forceNamespaced).toBe(true);
  });

  test("NMI --node defaults to NODE_NAME and the flag wins over it", () => {
    expect(nmi([], { NODE_NAME: "from-env" }).node).toBe("from-env");
    expect(nmi(["--node=from-flag"], { NODE_NAME: "from-env" }).node).toBe("from-flag");
  });

  test("NMI without any node name fails, except for --cleanup", () => {
    expect(failure(["--role", "nmi"], {})).toContain("NODE_NAME");
    expect(nmi(["--cleanup"], {}).cleanup).toBe(true);
  });

  test("KUBECONFIG is used by NMI and, when --kubeconfig is empty, by MIC", () => {
    expect(nmi([], { ...nmiEnv, KUBECONFIG: "/k/config" }).kubeconfig).toBe("/k/config");
    expect(mic([], { ...micEnv, KUBECONFIG: "/k/config" }).kubeconfig).toBe("/k/config");
    expect(mic(["--kubeconfig=/flag"], { ...micEnv, KUBECONFIG: "/k/config" }).kubeconfig).toBe("/flag");
  });

  test("cloud variables are exposed as cloudEnv; USE_MSI is case-insensitive", () => {
    const config = mic([], {
      ...micEnv,
      CLOUD: "AzurePublicCloud",
      TENANT_ID: "tenant",
      CLIENT_ID: "client",
      CLIENT_SECRET: "secret",
      SUBSCRIPTION_ID: "sub",
      RESOURCE_GROUP: "rg",
      VM_TYPE: "vmss",
      USE_MSI: "TRUE",
      USER_ASSIGNED_MSI_CLIENT_ID: "uami",
      AZURE_ENVIRONMENT_FILEPATH: "/env.json",
    });
    expect(config.cloudEnv).toEqual({
      cloud: "AzurePublicCloud",
      tenantId: "tenant",
      clientId: "client",
      clientSecret: "secret",
      subscriptionId: "sub",
      resourceGroup: "rg",
      vmType: "vmss",
      useMsi: true,
      userAssignedMsiClientId: "uami",
      azureEnvironmentFilepath: "/env.json",
    });
    expect(mic([], { ...micEnv, USE_MSI: "yes" }).cloudEnv.useMsi).toBe(false);
  });
});

describe("managed mode", () => {
  test("--role managed implies operation mode managed and namespaced matching", () => {
    const config = nmi([], nmiEnv, "managed");
    expect(config.role).toBe("managed");
    expect(config.operationMode).toBe("managed");
    expect(config.forceNamespaced).toBe(true);
  });

  test("--role nmi --operation-mode=managed --forceNamespaced becomes the managed role", () => {
    const config = nmi(["--operation-mode=managed", "--forceNamespaced"]);
    expect(config.role).toBe("managed");
  });

  test("--operation-mode=managed without namespaced matching is refused, as the original did", () => {
    expect(failure(["--role", "nmi", "--operation-mode=managed"], nmiEnv)).toContain("--forceNamespaced");
  });

  test("--role managed with --operation-mode=standard is a contradiction", () => {
    expect(failure(["--role", "managed", "--operation-mode=standard"], nmiEnv)).toContain("contradicts");
  });
});

describe("help, version and --validate-config", () => {
  test.each(["mic", "nmi", "managed"])("--role %s --help lists every flag of the role", (role) => {
    const parsed = command(parseCommandLine(["--role", role, "--help"], {}, host));
    if (parsed.kind !== "help") throw new Error("expected help");
    const names =
      role === "mic"
        ? [
            "--syncRetryDuration",
            "--leader-election-name",
            "--clientQps",
            "--unassign-grace-period",
            "MIC_POD_NAMESPACE",
          ]
        : ["--nmi-port", "--metadata-header-required", "--token-cache-max-age", "--cleanup", "NODE_NAME"];
    for (const name of [...names, "--log-format", "--v ", "--validate-config", "--enableProfile"]) {
      expect(parsed.text).toContain(name);
    }
    expect(parsed.text).toContain("never serves pprof");
    expect(parsed.text).not.toContain(role === "mic" ? "--nmi-port" : "--syncRetryDuration");
  });

  test("help defaults come from the same tables the parser uses", () => {
    const parsed = command(parseCommandLine(["--role", "nmi", "-h"], {}, host));
    if (parsed.kind !== "help") throw new Error("expected help");
    expect(parsed.text).toMatch(/--nmi-port port +.*\(default 2579\)/);
    expect(parsed.text).toMatch(/--metadata-header-required +.*\(default true\)/);
  });

  test("--help without a role lists the roles", () => {
    const parsed = command(parseCommandLine(["--help"], {}, host));
    if (parsed.kind !== "help") throw new Error("expected help");
    for (const role of ["mic", "nmi", "managed"]) expect(parsed.text).toMatch(new RegExp(`^  ${role} `, "m"));
  });

  test("--version needs no role", () => {
    expect(command(parseCommandLine(["--version"], {}, host)).kind).toBe("version");
    expect(command(parseCommandLine(["-version"], {}, host)).kind).toBe("version");
  });

  test("--validate-config returns the effective config, printed as JSON with secrets redacted", () => {
    const parsed = command(
      parseCommandLine(
        ["--role", "mic", "--validate-config", "--clientQps=7"],
        { ...micEnv, CLIENT_SECRET: "s3cr3t" },
        host,
      ),
    );
    if (parsed.kind !== "validate") throw new Error("expected validate");
    const json = effectiveConfigJson(parsed.config);
    expect(json).not.toContain("s3cr3t");
    const printed = JSON.parse(json);
    expect(printed.role).toBe("mic");
    expect(printed.clientQps).toBe(7);
    expect(printed.cloudEnv.clientSecret).toBe("[REDACTED]");
    // The config itself keeps the secret for the cloud layer.
    expect(parsed.config.role === "mic" && parsed.config.cloudEnv.clientSecret).toBe("s3cr3t");
  });

  test("--validate-config still reports configuration errors", () => {
    expect(failure(["--role", "nmi", "--validate-config", "--nmi-port=x"], nmiEnv)).toContain("--nmi-port");
  });
});
