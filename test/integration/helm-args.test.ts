// Every container the chart renders starts the real binary with arguments and environment it
// accepts: each is run through `dist/pod-identity <args> --validate-config` with the environment the
// kubelet would give it (downward API, the rendered Secret, $(VAR) expansion in args).
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { compiledBinary } from "../support/compiled-binary.ts";
import {
  type Container,
  fixturesDir,
  type K8sObject,
  NAMESPACE,
  type Rendered,
  renderChart,
} from "../support/helm-render.ts";

// The binary built from the current sources (dist/pod-identity when fresh), so a stale build never
// validates arguments the sources no longer accept.
const binary = compiledBinary();
const NODE = "aks-nodepool1-12345678-vmss000003";
const POD = "pid-pod-identity-mic-5d8c7b9f6-q2x7z";

const FIELD_VALUES: Record<string, string> = {
  "metadata.namespace": NAMESPACE,
  "metadata.name": POD,
  "spec.nodeName": NODE,
  "status.podIP": "10.244.1.17",
  "status.hostIP": "10.240.0.4",
};

/** The environment the kubelet builds for the container, resolved against the rendered objects. */
function containerEnv(container: Container, rendered: Rendered): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
    const secretRef = variable.valueFrom?.secretKeyRef;
    if (variable.value !== undefined) env[variable.name] = expand(variable.value, env);
    else if (fieldPath !== undefined) env[variable.name] = FIELD_VALUES[fieldPath] ?? "";
    else if (secretRef !== undefined) {
      const data = rendered.find("Secret", secretRef.name)?.data?.[secretRef.key];
      if (data === undefined)
        throw new Error(`${variable.name}: secret ${secretRef.name}/${secretRef.key} not rendered`);
      env[variable.name] = Buffer.from(data, "base64").toString();
    }
  }
  return env;
}

/** $(VAR) expansion as the kubelet applies it to args; unknown references stay as written. */
function expand(text: string, env: Record<string, string>): string {
  return text.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
}

interface Validated {
  exitCode: number;
  stderr: string;
  config: Record<string, unknown>;
}

function validate(container: Container, rendered: Rendered): Validated {
  const env = containerEnv(container, rendered);
  const args = (container.args ?? []).map((arg) => expand(arg, env));
  const result = Bun.spawnSync([binary, ...args, "--validate-config"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOSTNAME: POD, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout = result.stdout.toString();
  return {
    exitCode: result.exitCode ?? 1,
    stderr: result.stderr.toString(),
    config: result.exitCode === 0 ? (JSON.parse(stdout) as Record<string, unknown>) : {},
  };
}

function podIdentityContainers(rendered: Rendered): { workload: K8sObject; container: Container }[] {
  return [...rendered.all("Deployment"), ...rendered.all("DaemonSet")].flatMap((workload) => {
    const pod = workload.spec?.template?.spec;
    return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]
      .filter((container) => container.command === undefined)
      .map((container) => ({ workload, container }));
  });
}

const renderings: [string, Rendered][] = [
  ["standard values", renderChart()],
  ["managed mode", renderChart({ set: ["operationMode=managed"] })],
  ["an aad-pod-identity 4.1.18 values file", renderChart({ values: [resolve(fixturesDir, "values.yaml")] })],
  [
    "every new flag set",
    renderChart({
      set: [
        "mic.unassignGracePeriod=45s",
        "nmi.tokenCache=false",
        "nmi.tokenCacheMaxAge=30m",
        "nmi.tokenRefreshBefore=2m",
        "nmi.imdsMaxConcurrent=4",
        "nmi.imdsMaxRps=10",
        "nmi.identityPropagationRetry=90s",
        "nmi.maxHeaderBytes=32768",
        "mic.logVerbosity=3",
        "forceNamespaced=true",
      ],
    }),
  ],
  ["uninstall mode", renderChart({ set: ["nmi.removeInterception=true"] })],
];

describe("rendered container arguments are accepted by pod-identity --validate-config", () => {
  for (const [label, rendered] of renderings) {
    test(`with ${label}`, () => {
      const containers = podIdentityContainers(rendered);
      expect(containers.length).toBeGreaterThan(0);
      for (const { workload, container } of containers) {
        const result = validate(container, rendered);
        const role = container.args?.find((a) => a.startsWith("--role="))?.slice("--role=".length);
        expect({
          container: `${workload.metadata.name}/${container.name}`,
          exitCode: result.exitCode,
          stderr: result.stderr,
        }).toEqual({
          container: `${workload.metadata.name}/${container.name}`,
          exitCode: 0,
          stderr: "",
        });
        expect(result.config.role).toBe(role);
      }
    });
  }

  test("the values reach the effective configuration", () => {
    const byRole = (rendered: Rendered, role: string) => {
      const found = podIdentityContainers(rendered).find(({ container }) => container.args?.includes(`--role=${role}`));
      if (!found) throw new Error(`no ${role} container`);
      return validate(found.container, rendered).config;
    };
    const standard = renderings[0]?.[1] as Rendered;
    const compat = renderings[2]?.[1] as Rendered;
    const everyNew = renderings[3]?.[1] as Rendered;
    expect(byRole(standard, "nmi")).toMatchObject({ node: NODE, httpProbePort: 8085, forceNamespaced: false });
    expect(byRole(standard, "mic")).toMatchObject({
      leaderElectionNamespace: NAMESPACE,
      cloudconfig: "/etc/kubernetes/azure.json",
    });
    expect(byRole(renderings[1]?.[1] as Rendered, "managed")).toMatchObject({ forceNamespaced: true, node: NODE });
    expect(byRole(compat, "mic")).toMatchObject({
      forceNamespaced: true,
      createDeleteBatch: 40,
      clientQps: 20,
      immutableUserMsis: ["00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"],
      leaderElectionDurationMs: 30000,
      customUserAgent: "contoso-platform/2.3",
    });
    expect(byRole(compat, "nmi")).toMatchObject({
      forceNamespaced: true,
      micNamespace: "kube-system",
      blockInstanceMetadata: true,
      setRetryAfterHeader: true,
      enableConntrackDeletion: true,
      iptUpdateIntervalMs: 30000,
    });
    expect(byRole(everyNew, "mic")).toMatchObject({ unassignGracePeriodMs: 45000, forceNamespaced: true });
    expect(byRole(everyNew, "nmi")).toMatchObject({
      tokenCache: false,
      tokenCacheMaxAgeMs: 1800000,
      tokenRefreshBeforeMs: 120000,
      imdsMaxConcurrent: 4,
      imdsMaxRps: 10,
      identityPropagationRetryMs: 90000,
      maxHeaderBytes: 32768,
    });
  });
});
