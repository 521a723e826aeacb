// The chart rendered by the real helm: lint, standard and managed mode, an aad-pod-identity 4.1.18
// values file, and the shape every object needs to be accepted by an API server.
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import {
  type Container,
  chartDir,
  fixturesDir,
  type K8sObject,
  NAMESPACE,
  type Rendered,
  renderChart,
  runHelm,
} from "../support/helm-render.ts";

const compatValues = resolve(fixturesDir, "values.yaml");
const standard = renderChart();
const managed = renderChart({ set: ["operationMode=managed"] });
const compat = renderChart({ values: [compatValues] });

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
    expect([...(container.securityContext?.capabilities?.add ?? [])].sort()).toEqual([
      "DAC_READ_SEARCH",
      "NET_ADMIN",
      "NET_RAW",
    ]);
    expect(container.securityContext?.privileged).toBe(false);
    expect(pod?.volumes?.map((v) => v.hostPath?.path)).toEqual(["/run/xtables.lock", "/etc/default/kubelet"]);
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
    expect(container.env?.find((e) => e.name === "NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName");
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: 8085 });
    expect(daemonSet.spec?.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } });
  });

  test("RBAC: a Lease in the release namespace instead of Endpoints, no CRD writes, NMI reads secrets", () => {
    const micRole = standard.find("ClusterRole", `${RELEASE_PREFIX}-mic`);
    const nmiRole = standard.find("ClusterRole", `${RELEASE_PREFIX}-nmi`);
    expect(rulesFor(micRole, "endpoints")).toEqual([]);
    expect(rulesFor(micRole, "customresourcedefinitions")).toEqual(["get", "list"]);
    expect(rulesFor(micRole, "azureassignedidentities")).toEqual(
      expect.arrayContaining(["create", "update", "delete", "list", "watch"]),
    );
    expect(rulesFor(micRole, "events")).toEqual(expect.arrayContaining(["create", "patch"]));
    const leaseRole = standard.all("Role").find((role) => role.rules?.some((r) => r.resources.includes("leases")));
    expect(leaseRole?.metadata.namespace).toBe(NAMESPACE);
    expect(rulesFor(leaseRole, "leases")).toEqual(expect.arrayContaining(["create", "get", "update"]));
    expect(leaseRole?.rules?.find((r) => r.verbs.includes("update"))?.resourceNames).toEqual(["aad-pod-identity-mic"]);
    expect(rulesFor(nmiRole, "azureassignedidentities")).toEqual(["get", "list", "watch"]);
    expect(rulesFor(nmiRole, "secrets")).toEqual(["get", "list", "watch"]);
    expect(rulesFor(nmiRole, "customresourcedefinitions")).toEqual([]);
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
    expect(rulesFor(rendered.find("ClusterRole", `${RELEASE_PREFIX}-nmi`), "secrets")).toEqual([]);
    expect(rendered.all("AzurePodIdentityException")).toEqual([]);
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

  test("NMI gets no access to AzureAssignedIdentities but reads identities and bindings", () => {
    const role = managed.find("ClusterRole", `${RELEASE_PREFIX}-nmi`);
    expect(rulesFor(role, "azureassignedidentities")).toEqual([]);
    expect(rulesFor(role, "azureidentities")).toEqual(["get", "list", "watch"]);
    expect(rulesFor(role, "azureidentitybindings")).toEqual(["get", "list", "watch"]);
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

describe("uninstall", () => {
  test("nmi.removeInterception turns NMI into a one-shot --cleanup on every node", () => {
    const rendered = renderChart({ set: ["nmi.removeInterception=true"] });
    const pod = nmi(rendered).spec?.template?.spec;
    const cleanup = pod?.initContainers?.[0];
    expect(cleanup?.args).toEqual(["--role=nmi", "--cleanup"]);
    expect(cleanup?.securityContext?.capabilities?.add).toContain("NET_ADMIN");
    expect(cleanup?.volumeMounts?.map((m) => m.mountPath)).toContain("/run/xtables.lock");
    expect(pod?.hostNetwork).toBe(true);
    expect(pod?.containers[0]?.args).toBeUndefined();
  });
});

const RELEASE_PREFIX = "pid-pod-identity";
