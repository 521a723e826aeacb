// The chart rendered by the real helm: lint, standard and managed mode, an aad-pod-identity 4.1.18
// values file; every object valid for its kind (Kubernetes' schemas for built-ins, the chart's CRDs for
// custom resources); workload shapes, RBAC rule by rule, the rolling update and uninstall paths, NOTES.
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import {
  builtinSchemaProblems,
  type Container,
  chartDir,
  fixturesDir,
  type K8sObject,
  NAMESPACE,
  type Rendered,
  renderChart,
  renderNotes,
  runHelm,
} from "../support/helm-render.ts";
import { type SchemaNode, validateAgainst } from "../support/structural-schema.ts";

const compatValues = resolve(fixturesDir, "values.yaml");
const standard = renderChart();
const managed = renderChart({ set: ["operationMode=managed"] });
const compat = renderChart({ values: [compatValues] });
const RELEASE_PREFIX = "pid-pod-identity";

/** openAPIV3Schema of each custom kind, from the chart's own CRDs. */
const crdSchemas = new Map(
  renderChart({ includeCrds: true })
    .all("CustomResourceDefinition")
    .map((crd) => {
      const spec = crd.spec as { names: { kind: string }; versions: { schema: { openAPIV3Schema: SchemaNode } }[] };
      return [spec.names.kind, spec.versions[0]?.schema.openAPIV3Schema] as const;
    }),
);

/** Problems of a rendered object against the schema of its kind; unknown kinds are a problem too. */
function kindProblems(object: K8sObject): string[] {
  const builtin = builtinSchemaProblems(object);
  if (builtin) return builtin;
  const schema = object.apiVersion === "aadpodidentity.k8s.io/v1" ? crdSchemas.get(object.kind) : undefined;
  if (schema) return validateAgainst(schema, object);
  return [`no schema known for ${object.apiVersion} ${object.kind}`];
}

const CLUSTER_SCOPED = new Set(["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"]);

function containersOf(object: K8sObject): Container[] {
  const pod = object.spec?.template?.spec;
  return pod ? [...(pod.initContainers ?? []), ...pod.containers] : [];
}

function isSubset(subset: Record<string, string>, superset: Record<string, string>): boolean {
  return Object.entries(subset).every(([key, value]) => superset[key] === value);
}

function mic(rendered: Rendered): K8sObject {
  const deployment = rendered.find("Deployment");
  if (!deployment) throw new Error("no MIC Deployment rendered");
  return deployment;
}

function nmi(rendered: Rendered): K8sObject {
  const daemonSet = rendered.find("DaemonSet");
  if (!daemonSet) throw new Error("no NMI DaemonSet rendered");
  return daemonSet;
}

function mainContainer(object: K8sObject): Container {
  const container = object.spec?.template?.spec.containers[0];
  if (!container) throw new Error(`${object.metadata.name} has no container`);
  return container;
}

function envValue(container: Container, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}

function rulesFor(role: K8sObject | undefined, resource: string): string[] {
  return (role?.rules ?? []).filter((rule) => rule.resources.includes(resource)).flatMap((rule) => rule.verbs);
}

describe("helm lint", () => {
  test.each([
    ["default values", [] as string[]],
    ["managed mode", ["--set", "operationMode=managed"]],
    ["an aad-pod-identity 4.1.18 values file", ["--values", compatValues]],
  ])("passes with %s", (_label, extra) => {
    const result = runHelm(["lint", chartDir, "--strict", ...extra]);
    expect(result.output).toContain("0 chart(s) failed");
    expect(result.exitCode).toBe(0);
  });
});

describe("Chart.yaml", () => {
  test("is apiVersion v2 and its appVersion is the package version", async () => {
    const chart = Bun.YAML.parse(await Bun.file(resolve(chartDir, "Chart.yaml")).text()) as Record<string, unknown>;
    expect(chart.apiVersion).toBe("v2");
    expect(chart.appVersion).toBe(pkg.version);
    expect(mainContainer(nmi(standard)).image).toEndWith(`:${pkg.version}`);
  });
});

describe.each([
  ["standard", standard],
  ["managed", managed],
  ["aad-pod-identity values", compat],
])("every object rendered in %s mode", (_mode, rendered) => {
  test("has apiVersion, kind, a name, and a namespace when namespaced", () => {
    expect(rendered.find("DaemonSet")).toBeDefined();
    for (const object of rendered.objects) {
      expect(typeof object.apiVersion).toBe("string");
      expect(typeof object.kind).toBe("string");
      expect(object.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      if (!CLUSTER_SCOPED.has(object.kind)) expect(object.metadata.namespace).toBeTruthy();
    }
  });

  test("is valid for its kind: Kubernetes' schema for built-ins, the chart's CRD schema for custom resources", () => {
    const problems = rendered.objects
      .map((object) => ({ object: `${object.kind}/${object.metadata.name}`, problems: kindProblems(object) }))
      .filter((entry) => entry.problems.length > 0);
    expect(problems).toEqual([]);
  });

  test("workload selectors match their pod template labels, and containers have an image and arguments", () => {
    for (const workload of [...rendered.all("Deployment"), ...rendered.all("DaemonSet")]) {
      const selector = workload.spec?.selector?.matchLabels ?? {};
      expect(Object.keys(selector).length).toBeGreaterThan(0);
      expect(isSubset(selector, workload.spec?.template?.metadata?.labels ?? {})).toBe(true);
      for (const container of containersOf(workload)) {
        expect(container.image).toMatch(/^[^\s]+\/pod-identity:[^\s]+$/);
        expect((container.args ?? container.command ?? []).length).toBeGreaterThan(0);
      }
    }
  });

  test("PodDisruptionBudget and Service selectors pick pods of a rendered workload", () => {
    const podLabels = [...rendered.all("Deployment"), ...rendered.all("DaemonSet")].map(
      (w) => w.spec?.template?.metadata?.labels ?? {},
    );
    for (const object of [...rendered.all("PodDisruptionBudget"), ...rendered.all("Service")]) {
      const selector =
        object.kind === "Service"
          ? (object.spec?.selector as Record<string, string>)
          : (object.spec?.selector?.matchLabels ?? {});
      expect(podLabels.some((labels) => isSubset(selector, labels))).toBe(true);
    }
  });

  test("role bindings name a rendered role and the service account of a rendered workload", () => {
    const accounts = new Set(
      [...rendered.all("Deployment"), ...rendered.all("DaemonSet")].map(
        (w) => w.spec?.template?.spec.serviceAccountName,
      ),
    );
    for (const binding of [...rendered.all("ClusterRoleBinding"), ...rendered.all("RoleBinding")]) {
      const roleKind = binding.roleRef?.kind ?? "";
      expect(rendered.find(roleKind, binding.roleRef?.name)).toBeDefined();
      for (const subject of binding.subjects ?? []) {
        expect(rendered.find("ServiceAccount", subject.name)).toBeDefined();
        expect(subject.namespace).toBe(NAMESPACE);
        expect(accounts.has(subject.name)).toBe(true);
      }
    }
  });
});

describe("standard mode", () => {
  test("MIC: 2 replicas, role mic, azure.json from the host read as root, namespace from the downward API", () => {
    const deployment = mic(standard);
    const pod = deployment.spec?.template?.spec;
    const container = mainContainer(deployment);
    expect(deployment.spec?.replicas).toBe(2);
    expect(container.args).toEqual(
      expect.arrayContaining(["--role=mic", "--cloudconfig=/etc/kubernetes/azure.json", "--logtostderr"]),
    );
    expect(container.args).toContain(`--leader-election-namespace=${NAMESPACE}`);
    expect(container.env?.find((e) => e.name === "MIC_POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath).toBe(
      "metadata.namespace",
    );
    expect(envValue(container, "FORCENAMESPACED")).toBe("false");
    expect(pod?.volumes?.find((v) => v.name === "k8s-azure-file")?.hostPath?.path).toBe("/etc/kubernetes/azure.json");
    expect(pod?.securityContext?.runAsUser).toBe(0);
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: 8080 });
    expect(container.readinessProbe?.httpGet?.port).toBe(8080);
    expect(pod?.affinity).toHaveProperty("podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution");
    expect(standard.find("PodDisruptionBudget")?.spec).toMatchObject({ minAvailable: 1 });
  });

  test("NMI: host network, only netfilter capabilities, lock and kubelet config from the host, every taint tolerated", () => {
    const daemonSet = nmi(standard);
    const pod = daemonSet.spec?.template?.spec;
    const container = mainContainer(daemonSet);
    expect(pod?.hostNetwork).toBe(true);
    expect(pod?.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(pod?.priorityClassName).toBe("system-node-critical");
    expect(pod?.tolerations).toEqual([{ operator: "Exists" }]);
    expect(container.securityContext?.capabilities?.drop).toEqual(["ALL"]);
    expect([...(container.securityContext?.capabilities?.add ?? [])].sort()).toEqual(["NET_ADMIN", "NET_RAW"]);
    expect(container.securityContext?.privileged).toBe(false);
    expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(pod?.volumes?.map((v) => [v.hostPath?.path, v.hostPath?.type])).toEqual([
      ["/run/xtables.lock", "FileOrCreate"],
      ["/etc/default/kubelet", "FileOrCreate"],
    ]);
    // iptables in the container and on the host (kube-proxy, CNI) serialise on the same lock file.
    expect(container.volumeMounts?.find((m) => m.name === "iptableslock")).toMatchObject({
      mountPath: "/run/xtables.lock",
    });
    expect(container.volumeMounts?.find((m) => m.name === "iptableslock")?.readOnly).toBeUndefined();
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--role=nmi",
        "--node=$(NODE_NAME)",
        "--http-probe-port=8085",
        "--operation-mode=standard",
        "--enableScaleFeatures=true",
        "--metadata-header-required=true",
        "--kubelet-config=/etc/default/kubelet",
      ]),
    );
    const fieldRef = (name: string) => container.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    expect(fieldRef("NODE_NAME")).toBe("spec.nodeName");
    // The uninstall check on SIGTERM reads NMI's own pod, named by the downward API.
    expect(fieldRef("POD_NAME")).toBe("metadata.name");
    expect(fieldRef("POD_NAMESPACE")).toBe("metadata.namespace");
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
      expect(probe?.httpGet).toEqual({ path: "/healthz", port: 8085 });
    }
    expect(container.ports?.find((p) => p.name === "probe")?.containerPort).toBe(8085);
  });

  // The exact rules: helm-rbac.test.ts shows each one is used by the binary and nothing more is called.
  test("RBAC: MIC reads what it watches, writes only assigned identities and events, leads through one Lease", () => {
    expect(standard.find("ClusterRole", `${RELEASE_PREFIX}-mic`)?.rules).toEqual([
      { apiGroups: [""], resources: ["pods", "nodes"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
      {
        apiGroups: ["aadpodidentity.k8s.io"],
        resources: ["azureidentities", "azureidentitybindings"],
        verbs: ["list", "watch"],
      },
      {
        apiGroups: ["aadpodidentity.k8s.io"],
        resources: ["azureassignedidentities"],
        verbs: ["list", "watch", "create", "update", "patch", "delete"],
      },
    ]);
    const leaseRole = standard.find("Role", `${RELEASE_PREFIX}-mic-leader-election`);
    expect(leaseRole?.metadata.namespace).toBe(NAMESPACE);
    expect(leaseRole?.rules).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["aad-pod-identity-mic"],
        verbs: ["get", "update"],
      },
    ]);
    // No Endpoints, ConfigMaps or CRD access anywhere.
    for (const role of [...standard.all("ClusterRole"), ...standard.all("Role")]) {
      for (const resource of ["endpoints", "configmaps", "customresourcedefinitions"])
        expect(rulesFor(role, resource)).toEqual([]);
    }
  });

  test("RBAC: NMI lists and watches, reads secrets cluster-wide, and reads only its own DaemonSet", () => {
    expect(standard.find("ClusterRole", `${RELEASE_PREFIX}-nmi`)?.rules).toEqual([
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
      { apiGroups: ["aadpodidentity.k8s.io"], resources: ["azurepodidentityexceptions"], verbs: ["list", "watch"] },
      { apiGroups: ["aadpodidentity.k8s.io"], resources: ["azureassignedidentities"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
    ]);
    const uninstallCheck = standard.find("Role", `${RELEASE_PREFIX}-nmi-uninstall-check`);
    expect(uninstallCheck?.metadata.namespace).toBe(NAMESPACE);
    expect(uninstallCheck?.rules).toEqual([
      { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
      {
        apiGroups: ["apps"],
        resources: ["daemonsets"],
        resourceNames: [nmi(standard).metadata.name],
        verbs: ["get"],
      },
    ]);
    expect(standard.find("RoleBinding", `${RELEASE_PREFIX}-nmi-uninstall-check`)?.subjects).toEqual([
      { kind: "ServiceAccount", name: `${RELEASE_PREFIX}-nmi`, namespace: NAMESPACE },
    ]);
  });

  test("the MIC and AKS add-on exceptions are installed", () => {
    const exceptions = standard.all("AzurePodIdentityException");
    expect(exceptions.map((e) => `${e.metadata.namespace}/${e.metadata.name}`).sort()).toEqual([
      `${NAMESPACE}/${RELEASE_PREFIX}-mic`,
      "kube-system/aks-addon-exception",
    ]);
    const micException = exceptions.find((e) => e.metadata.namespace === NAMESPACE);
    const micPodLabels = mic(standard).spec?.template?.metadata?.labels ?? {};
    const podLabels = (micException?.spec?.podLabels ?? {}) as Record<string, string>;
    // NMI excepts a pod when any one listed label matches, so the MIC pods must carry one.
    expect(Object.entries(podLabels).some(([key, value]) => micPodLabels[key] === value)).toBe(true);
  });

  test("secrets access and the exceptions can be switched off", () => {
    const rendered = renderChart({ set: ["rbac.allowAccessToSecrets=false", "installMICException=false"] });
    for (const role of [...rendered.all("ClusterRole"), ...rendered.all("Role")])
      expect(rulesFor(role, "secrets")).toEqual([]);
    expect(rendered.all("AzurePodIdentityException")).toEqual([]);
  });

  test("rbac.enabled=false renders no RBAC objects and no service account names", () => {
    const rendered = renderChart({ set: ["rbac.enabled=false"] });
    for (const kind of ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"])
      expect(rendered.all(kind)).toEqual([]);
    expect(mic(rendered).spec?.template?.spec.serviceAccountName).toBeUndefined();
    expect(nmi(rendered).spec?.template?.spec.serviceAccountName).toBeUndefined();
  });

  test("the PodDisruptionBudget keeps one MIC up, follows values, and can be left out", () => {
    const pdb = standard.find("PodDisruptionBudget", `${RELEASE_PREFIX}-mic`);
    expect(pdb?.apiVersion).toBe("policy/v1");
    expect(pdb?.spec?.minAvailable).toBe(1);
    expect(isSubset(pdb?.spec?.selector?.matchLabels ?? {}, mic(standard).spec?.template?.metadata?.labels ?? {})).toBe(
      true,
    );
    expect(isSubset(pdb?.spec?.selector?.matchLabels ?? {}, nmi(standard).spec?.template?.metadata?.labels ?? {})).toBe(
      false,
    );
    const custom = renderChart({
      set: ["mic.podDisruptionBudget.minAvailable=null", "mic.podDisruptionBudget.maxUnavailable=1"],
    });
    expect(custom.find("PodDisruptionBudget")?.spec).toMatchObject({ maxUnavailable: 1 });
    expect(custom.find("PodDisruptionBudget")?.spec?.minAvailable).toBeUndefined();
    expect(renderChart({ set: ["mic.podDisruptionBudget=null"] }).all("PodDisruptionBudget")).toEqual([]);
  });

  test("a Lease namespace and name from values move the leader-election Role and its resourceNames", () => {
    const rendered = renderChart({
      set: ["mic.leaderElection.namespace=kube-system", "mic.leaderElection.name=pid-mic-lock"],
    });
    const leaseRole = rendered.find("Role", `${RELEASE_PREFIX}-mic-leader-election`);
    expect(leaseRole?.metadata.namespace).toBe("kube-system");
    expect(leaseRole?.rules?.[1]?.resourceNames).toEqual(["pid-mic-lock"]);
    expect(rendered.find("RoleBinding", `${RELEASE_PREFIX}-mic-leader-election`)?.metadata.namespace).toBe(
      "kube-system",
    );
    expect(mainContainer(mic(rendered)).args).toEqual(
      expect.arrayContaining(["--leader-election-namespace=kube-system", "--leader-election-name=pid-mic-lock"]),
    );
  });

  test("mic.customCloud mounts the environment file and points AZURE_ENVIRONMENT_FILEPATH at it", () => {
    const deployment = mic(renderChart({ set: ["mic.customCloud.enabled=true"] }));
    const path = "/etc/kubernetes/akscustom.json";
    expect(deployment.spec?.template?.spec.volumes?.find((v) => v.hostPath?.path === path)?.hostPath?.type).toBe(
      "File",
    );
    expect(mainContainer(deployment).volumeMounts?.find((m) => m.mountPath === path)?.readOnly).toBe(true);
    expect(envValue(mainContainer(deployment), "AZURE_ENVIRONMENT_FILEPATH")).toBe(path);
  });

  test("MIC replicas spread over nodes: the default anti-affinity selects MIC pods by hostname", () => {
    const affinity = mic(standard).spec?.template?.spec.affinity as {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: {
          podAffinityTerm: {
            topologyKey: string;
            labelSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
          };
        }[];
      };
    };
    const [term] = affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    expect(term?.podAffinityTerm.topologyKey).toBe("kubernetes.io/hostname");
    const labels = mic(standard).spec?.template?.metadata?.labels ?? {};
    expect(
      term?.podAffinityTerm.labelSelector.matchExpressions.every(
        (e) => e.operator === "In" && e.values.includes(labels[e.key] ?? ""),
      ),
    ).toBe(true);
  });
});

describe("managed mode", () => {
  test("renders no MIC objects and runs NMI as --role=managed, namespaced", () => {
    expect(managed.all("Deployment")).toEqual([]);
    expect(managed.all("PodDisruptionBudget")).toEqual([]);
    expect(managed.objects.filter((o) => o.metadata.name.endsWith("-mic"))).toEqual([]);
    const container = mainContainer(nmi(managed));
    expect(container.args).toEqual(
      expect.arrayContaining(["--role=managed", "--operation-mode=managed", "--forceNamespaced"]),
    );
    expect(container.args).not.toContain("--role=nmi");
  });

  test("NMI gets no access to AzureAssignedIdentities but lists and watches identities and bindings", () => {
    expect(managed.find("ClusterRole", `${RELEASE_PREFIX}-nmi`)?.rules).toEqual([
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
      { apiGroups: ["aadpodidentity.k8s.io"], resources: ["azurepodidentityexceptions"], verbs: ["list", "watch"] },
      {
        apiGroups: ["aadpodidentity.k8s.io"],
        resources: ["azureidentities", "azureidentitybindings"],
        verbs: ["list", "watch"],
      },
      { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
    ]);
    expect(managed.find("Role", `${RELEASE_PREFIX}-nmi-uninstall-check`)?.rules).toHaveLength(2);
  });

  test("only the AKS add-on exception is installed (there is no MIC)", () => {
    expect(managed.all("AzurePodIdentityException").map((e) => `${e.metadata.namespace}/${e.metadata.name}`)).toEqual([
      "kube-system/aks-addon-exception",
    ]);
  });
});

describe("an aad-pod-identity 4.1.18 values file", () => {
  test("the original default repository still yields this project's image; mic/nmi image and tag are ignored", () => {
    for (const workload of [mic(compat), nmi(compat)]) {
      expect(mainContainer(workload).image).toBe(`ghcr.io/pod-identity/pod-identity:${pkg.version}`);
      expect(mainContainer(workload).image).not.toContain("v1.8.17");
    }
    expect(nmi(compat).spec?.template?.spec.imagePullSecrets).toEqual([{ name: "acr-pull" }]);
  });

  test("adminsecret: MIC takes credentials from the Secret, runs as non-root and mounts nothing from the host", () => {
    const deployment = mic(compat);
    const pod = deployment.spec?.template?.spec;
    const container = mainContainer(deployment);
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(pod?.volumes ?? []).toEqual([]);
    expect(container.args?.some((a) => a.startsWith("--cloudconfig"))).toBe(false);
    const secret = compat.find("Secret", `${RELEASE_PREFIX}-mic`);
    const decoded = Object.fromEntries(
      Object.entries(secret?.data ?? {}).map(([key, value]) => [key, Buffer.from(value, "base64").toString()]),
    );
    expect(decoded).toMatchObject({ VMType: "vmss", UseMSI: "true", ClientID: "msi", Cloud: "AzurePublicCloud" });
    for (const name of ["CLOUD", "SUBSCRIPTION_ID", "RESOURCE_GROUP", "VM_TYPE", "TENANT_ID", "CLIENT_ID"]) {
      const ref = container.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
      expect(ref?.name).toBe(`${RELEASE_PREFIX}-mic`);
      expect(decoded[ref?.key ?? ""]).toBeDefined();
    }
    expect(container.env?.find((e) => e.name === "USER_ASSIGNED_MSI_CLIENT_ID")).toBeDefined();
  });

  test("every value becomes the flag the original chart rendered", () => {
    const micArgs = mainContainer(mic(compat)).args ?? [];
    expect(micArgs).toEqual(
      expect.arrayContaining([
        "--log-format=json",
        "--leader-election-duration=30s",
        "--createDeleteBatch=40",
        "--clientQps=20",
        "--immutable-user-msis=00000000-0000-0000-0000-000000000001,00000000-0000-0000-0000-000000000002",
        "--syncRetryDuration=1800s",
        "--update-user-msi-max-retry=3",
        "--update-user-msi-retry-interval=2s",
        "--identity-assignment-reconcile-interval=5m",
        "--custom-user-agent=contoso-platform/2.3",
      ]),
    );
    const nmiArgs = mainContainer(nmi(compat)).args ?? [];
    expect(nmiArgs).toEqual(
      expect.arrayContaining([
        "--ipt-update-interval-sec=30",
        "--MICNamespace=kube-system",
        "--block-instance-metadata=true",
        "--set-retry-after-header=true",
        "--enable-conntrack-deletion=true",
        "--prometheus-port=9090",
      ]),
    );
    expect(envValue(mainContainer(mic(compat)), "FORCENAMESPACED")).toBe("true");
    expect(envValue(mainContainer(nmi(compat)), "FORCENAMESPACED")).toBe("true");
  });

  test("azureIdentities become AzureIdentity and AzureIdentityBinding pairs in their namespaces", () => {
    const sp = compat.find("AzureIdentity", "billing-sp");
    expect(sp?.metadata.namespace).toBe("billing");
    expect(sp?.spec).toMatchObject({
      type: 1,
      clientPassword: { name: "billing-sp-secret", namespace: "billing" },
      auxiliaryTenantIDs: ["0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"],
    });
    expect(compat.find("AzureIdentity", "orders-api")?.spec).toMatchObject({ type: 0 });
    const binding = compat.find("AzureIdentityBinding", "orders-api-binding");
    expect(binding?.metadata.namespace).toBe("orders");
    expect(Object.entries(binding?.spec ?? {}).sort()).toEqual([
      ["azureIdentity", "orders-api"],
      ["selector", "orders-api"],
    ]);
    expect(compat.find("ClusterRole", `${RELEASE_PREFIX}-view`)?.metadata.labels).toHaveProperty(
      ["rbac.authorization.k8s.io/aggregate-to-view"],
      "true",
    );
  });

  test("the chart 2.x list form of azureIdentities still renders", () => {
    const rendered = renderChart({
      set: [
        "azureIdentities[0].name=legacy",
        "azureIdentities[0].clientID=abc",
        "azureIdentities[0].resourceID=/subscriptions/s/resourcegroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/legacy",
        "azureIdentities[0].binding.name=legacy-binding",
        "azureIdentities[0].binding.selector=legacy",
      ],
    });
    expect(rendered.find("AzureIdentity", "legacy")?.metadata.namespace).toBe(NAMESPACE);
    expect(rendered.find("AzureIdentityBinding", "legacy-binding")?.spec).toMatchObject({ selector: "legacy" });
  });
});

describe("rolling update of NMI", () => {
  // Interception survives a rolling update only because NMI keeps its rules on SIGTERM and nothing in
  // the chart removes them: no preStop hook, no --cleanup, no surge pod competing for the host ports.
  test.each([
    ["standard", standard],
    ["managed", managed],
    ["aad-pod-identity values", compat],
  ])("in %s mode, replaces one node's NMI at a time and never runs a cleanup", (_mode, rendered) => {
    const daemonSet = nmi(rendered);
    expect(daemonSet.spec?.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } });
    const pod = daemonSet.spec?.template?.spec;
    expect(pod?.initContainers).toBeUndefined();
    for (const container of pod?.containers ?? []) {
      expect(container.lifecycle).toBeUndefined();
      expect(container.args).not.toContain("--cleanup");
    }
  });

  test("a maxSurge other than 0 is refused: a surge pod could not bind NMI's host ports", () => {
    expect(() => renderChart({ set: ["nmi.updateStrategy.rollingUpdate.maxSurge=1"] })).toThrow(/maxSurge must be 0/);
    expect(nmi(renderChart({ set: ["nmi.updateStrategy.rollingUpdate.maxSurge=0"] })).spec?.updateStrategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
    });
  });
});

describe("uninstall", () => {
  test("nmi.removeInterception turns NMI into a one-shot --cleanup on every node", () => {
    const rendered = renderChart({ set: ["nmi.removeInterception=true"] });
    const pod = nmi(rendered).spec?.template?.spec;
    const cleanup = pod?.initContainers?.[0];
    // The kubenet check would read the kubelet config, which the cleanup container does not mount.
    expect(cleanup?.args).toEqual(["--role=nmi", "--cleanup", "--allow-network-plugin-kubenet=true"]);
    expect([...(cleanup?.securityContext?.capabilities?.add ?? [])].sort()).toEqual(["NET_ADMIN", "NET_RAW"]);
    expect(cleanup?.securityContext?.runAsUser).toBe(0);
    expect(cleanup?.volumeMounts?.map((m) => m.mountPath)).toEqual(["/run/xtables.lock"]);
    expect(pod?.hostNetwork).toBe(true);
    expect(pod?.containers[0]?.args).toBeUndefined();
    expect(pod?.containers[0]?.command).toEqual(["sleep", "infinity"]);
  });
});

describe("NOTES.txt", () => {
  test("standard mode names both components and the uninstall steps for this release", () => {
    const notes = renderNotes();
    expect(notes).toContain(`installed in namespace ${NAMESPACE} (standard mode)`);
    expect(notes).toContain(`deployment/${RELEASE_PREFIX}-mic`);
    expect(notes).toContain(`Lease ${NAMESPACE}/aad-pod-identity-mic`);
    expect(notes).toContain(`daemonset/${RELEASE_PREFIX}-nmi`);
    expect(notes).toContain("--set nmi.removeInterception=true");
    expect(notes).toContain(`helm -n ${NAMESPACE} uninstall pid`);
  });

  test("managed mode has no MIC and says identities are assigned outside the cluster", () => {
    const notes = renderNotes({ set: ["operationMode=managed"] });
    expect(notes).toContain("(managed mode)");
    expect(notes).not.toContain("deployment/");
    expect(notes).toContain("must already be assigned");
  });

  test("uninstall mode tells how to finish, and ignored aad-pod-identity keys are named", () => {
    const notes = renderNotes({ set: ["nmi.removeInterception=true", "mic.tag=v1.8.17", "rbac.pspEnabled=true"] });
    expect(notes).toContain("NMI is in uninstall mode");
    expect(notes).toContain(`rollout status daemonset/${RELEASE_PREFIX}-nmi`);
    expect(notes).toContain("mic.tag");
    expect(notes).toContain("rbac.pspEnabled is ignored");
  });
});
