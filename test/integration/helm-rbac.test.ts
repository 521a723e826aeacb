// The chart's RBAC against what the roles really do: the compiled binary runs a realistic scenario in
// the emulated world with the arguments the chart renders, every request it sends to the API server is
// mapped to RBAC attributes, and each must be allowed by the rules bound to that role's ServiceAccount
// (standard and managed mode), and every permission the rules grant must have been used by some request:
// rendered rules == observed calls, with no allow-list. The scenarios therefore drive the rarer paths
// too (a slow first list of Secrets, NMI's uninstall check on SIGTERM). The first block checks the pure
// RBAC model (test/support/rbac.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort } from "../../emulators/world/free-port.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { requestFromPod } from "../../scripts/demo/pod-request.ts";
import { API_VERSION } from "../../src/kube/crds.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { NAMESPACE, type Rendered, renderChart } from "../support/helm-render.ts";
import { armTargetOf, userArmClient } from "../support/mic-process.ts";
import {
  coverage,
  describeRequest,
  type Grant,
  grantAllows,
  grantsFor,
  permissionKey,
  type RequestAttributes,
  requestAttributes,
} from "../support/rbac.ts";
import {
  nodeSandbox,
  type RoleProcess,
  renderedArgs,
  renderedEnv,
  sandboxSkipReason,
  startRole,
  withoutFlags,
} from "../support/rbac-role-process.ts";

describe("RBAC model", () => {
  test("requests map to verb, group, resource, namespace and name as the API server derives them", () => {
    expect(requestAttributes("GET", "/api/v1/pods?watch=true&resourceVersion=5")).toEqual({
      kind: "resource",
      verb: "watch",
      apiGroup: "",
      resource: "pods",
    });
    expect(requestAttributes("GET", "/api/v1/namespaces/ns1/pods?fieldSelector=spec.nodeName%3Dn1")).toEqual({
      kind: "resource",
      verb: "list",
      apiGroup: "",
      resource: "pods",
      namespace: "ns1",
    });
    expect(requestAttributes("GET", "/apis/coordination.k8s.io/v1/namespaces/kube/leases/mic")).toEqual({
      kind: "resource",
      verb: "get",
      apiGroup: "coordination.k8s.io",
      resource: "leases",
      namespace: "kube",
      name: "mic",
    });
    expect(requestAttributes("PUT", "/api/v1/namespaces/a/pods/p/status")).toMatchObject({
      verb: "update",
      resource: "pods",
      subresource: "status",
      name: "p",
    });
    expect(requestAttributes("POST", "/api/v1/namespaces/a/events").verb).toBe("create");
    expect(requestAttributes("PATCH", "/apis/g/v1/namespaces/a/things/x").verb).toBe("patch");
    expect(requestAttributes("DELETE", "/apis/g/v1/namespaces/a/things/x").verb).toBe("delete");
    expect(requestAttributes("DELETE", "/apis/g/v1/namespaces/a/things").verb).toBe("deletecollection");
    // The namespace object itself is cluster-scoped; its status is a subresource, not a resource "status".
    expect(requestAttributes("GET", "/api/v1/namespaces/a")).toEqual({
      kind: "resource",
      verb: "get",
      apiGroup: "",
      resource: "namespaces",
      name: "a",
    });
    expect(requestAttributes("PUT", "/api/v1/namespaces/a/status")).toMatchObject({
      resource: "namespaces",
      name: "a",
      subresource: "status",
    });
    // A metadata.name field selector names the object of a list or watch.
    expect(requestAttributes("GET", "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Ds&watch=1")).toEqual({
      kind: "resource",
      verb: "watch",
      apiGroup: "",
      resource: "secrets",
      namespace: "a",
      name: "s",
    });
    expect(requestAttributes("GET", "/apis/aadpodidentity.k8s.io/v1")).toEqual({
      kind: "nonResource",
      verb: "get",
      path: "/apis/aadpodidentity.k8s.io/v1",
    });
    expect(requestAttributes("GET", "/version").kind).toBe("nonResource");
  });

  const objects = [
    {
      kind: "ClusterRole",
      metadata: { name: "reader" },
      rules: [{ apiGroups: [""], resources: ["pods", "pods/status"], verbs: ["get", "list"] }],
    },
    {
      kind: "Role",
      metadata: { name: "lease", namespace: "sys" },
      rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["l"], verbs: ["get"] }],
    },
    {
      kind: "ClusterRole",
      metadata: { name: "bound-in-ns" },
      rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
    },
    {
      kind: "ClusterRoleBinding",
      metadata: { name: "reader" },
      roleRef: { kind: "ClusterRole", name: "reader" },
      subjects: [{ kind: "ServiceAccount", name: "sa", namespace: "sys" }],
    },
    {
      kind: "RoleBinding",
      metadata: { name: "lease", namespace: "sys" },
      roleRef: { kind: "Role", name: "lease" },
      subjects: [{ kind: "ServiceAccount", name: "sa", namespace: "sys" }],
    },
    {
      kind: "RoleBinding",
      metadata: { name: "all", namespace: "team" },
      roleRef: { kind: "ClusterRole", name: "bound-in-ns" },
      subjects: [{ kind: "ServiceAccount", name: "sa", namespace: "sys" }],
    },
    {
      kind: "ClusterRoleBinding",
      metadata: { name: "someone-else" },
      roleRef: { kind: "ClusterRole", name: "bound-in-ns" },
      subjects: [{ kind: "ServiceAccount", name: "sa", namespace: "other" }],
    },
  ];
  const grants = grantsFor(objects, { namespace: "sys", name: "sa" });
  const allowed = (method: string, path: string) => grants.some((g) => grantAllows(g, requestAttributes(method, path)));

  test("only bindings to this ServiceAccount count; a RoleBinding limits a ClusterRole to its namespace", () => {
    expect(grants.map((g) => `${g.role}@${g.namespace ?? "*"}`).sort()).toEqual([
      "ClusterRole/bound-in-ns@team",
      "ClusterRole/reader@*",
      "Role/sys/lease@sys",
    ]);
    expect(allowed("DELETE", "/api/v1/namespaces/team/secrets/x")).toBe(true);
    expect(allowed("DELETE", "/api/v1/namespaces/sys/secrets/x")).toBe(false);
    expect(allowed("GET", "/api/v1/secrets")).toBe(false);
  });

  test("verbs, groups, resources and subresources must all match", () => {
    expect(allowed("GET", "/api/v1/namespaces/x/pods")).toBe(true);
    expect(allowed("GET", "/api/v1/namespaces/x/pods/p/status")).toBe(true);
    expect(allowed("GET", "/api/v1/namespaces/x/pods?watch=true")).toBe(false);
    expect(allowed("GET", "/api/v1/namespaces/x/pods/p/log")).toBe(false);
    expect(allowed("GET", "/apis/other/v1/namespaces/x/pods")).toBe(false);
  });

  test("resourceNames allow only named requests, and a Role only in its own namespace", () => {
    expect(allowed("GET", "/apis/coordination.k8s.io/v1/namespaces/sys/leases/l")).toBe(true);
    expect(allowed("GET", "/apis/coordination.k8s.io/v1/namespaces/sys/leases/other")).toBe(false);
    expect(allowed("GET", "/apis/coordination.k8s.io/v1/namespaces/sys/leases")).toBe(false);
    expect(allowed("GET", "/apis/coordination.k8s.io/v1/namespaces/elsewhere/leases/l")).toBe(false);
  });

  test("coverage reports forbidden requests and permissions no request used", () => {
    const result = coverage(grants.slice(0, 2), [requestAttributes("GET", "/api/v1/pods")]);
    expect(result.forbidden).toEqual([]);
    expect(result.unused.map(permissionKey).sort()).toEqual([
      "get coordination.k8s.io/leases",
      "get core/pods",
      "get core/pods/status",
      "list core/pods/status",
    ]);
    const denied = coverage(grants.slice(0, 1), [requestAttributes("POST", "/api/v1/namespaces/a/pods")]);
    expect(denied.forbidden.map(describeRequest)).toEqual(["create core/pods a/*"]);
  });
});

// Every authenticated user may read these (the default system:discovery, system:public-info-viewer and
// system:basic-user bindings), so they need nothing in the chart.
const PUBLIC_PATHS = [
  /^\/api$/,
  /^\/api\/v1$/,
  /^\/apis(\/[^/]+(\/[^/]+)?)?$/,
  /^\/version$/,
  /^\/(healthz|livez|readyz)$/,
];

const standard = renderChart();
const managed = renderChart({ set: ["operationMode=managed"] });

function accountOf(rendered: Rendered, kind: "Deployment" | "DaemonSet") {
  const name = rendered.find(kind)?.spec?.template?.spec.serviceAccountName;
  if (!name) throw new Error(`the ${kind} names no ServiceAccount`);
  return { namespace: NAMESPACE, name };
}

/** The API requests logged from `from` on, as RBAC attributes. */
function requestsSince(world: World, from: number): RequestAttributes[] {
  return world.kube
    .requests()
    .slice(from)
    .map((r) => requestAttributes(r.method, r.path));
}

/** Asserts that the grants allow every request and that each granted permission was used by one. */
function expectExactCoverage(grants: Grant[], requests: RequestAttributes[]) {
  const nonResource = requests.filter((r) => r.kind === "nonResource");
  expect(nonResource.filter((r) => !PUBLIC_PATHS.some((p) => p.test(r.path))).map(describeRequest)).toEqual([]);
  const result = coverage(grants, requests);
  expect([...new Set(result.forbidden.map(describeRequest))]).toEqual([]);
  expect([...new Set(result.unused.map(permissionKey))].sort()).toEqual([]);
}

let binary: string;
beforeAll(async () => {
  binary = await compiledBinary();
}, 120_000);

const SCALE_SET = "aks-nodepool1-31313131-vmss";
const NODE = `${SCALE_SET}000000`;

/** What the downward API would give the chart's pods. */
const podFields = (podName: string) => ({
  "metadata.name": podName,
  "metadata.namespace": NAMESPACE,
  "spec.nodeName": NODE,
});

/** MIC as the chart runs it (its rendered args and env), with the world's files and free ports. */
async function startChartMic(world: World, instance: string): Promise<RoleProcess> {
  const deployment = standard.find("Deployment");
  const args = withoutFlags(renderedArgs(deployment), ["cloudconfig", "http-probe-port"]);
  const mic = await startRole(
    world,
    binary,
    [
      ...args,
      `--kubeconfig=${world.kubeconfigPath}`,
      `--cloudconfig=${world.azureJsonPath}`,
      `--prometheus-port=${await freePort()}`,
      `--leader-election-instance=${instance}`,
      "--leader-election-duration=3s",
      "--unassign-grace-period=500ms",
      "--identity-assignment-reconcile-interval=2s",
      "--update-user-msi-retry-interval=100ms",
    ],
    renderedEnv(deployment, podFields(instance)),
  );
  await world.waitFor(async () => (await mic.health()) === "Active", 10_000, "MIC active");
  return mic;
}

const recordsOf = (world: World, pod: string) => world.assignedIdentities().filter((r) => r.spec?.pod === pod);
const statusOf = (world: World, pod: string) => recordsOf(world, pod)[0]?.status?.status;
function bind(world: World, identity: string) {
  world.createAzureIdentity(identity);
  world.createAzureIdentityBinding(`${identity}-binding`, { azureIdentity: identity, selector: identity });
}

describe("MIC's rendered RBAC (standard mode)", () => {
  const VM = "aks-agentpool-42424242-0";
  let world: World;
  let mic: RoleProcess | undefined;

  beforeAll(async () => {
    world = await startWorld({
      scaleSets: [{ name: SCALE_SET, nodes: 1 }],
      vms: [VM],
      identities: ["app", "app-next", "denied", "vm-app"],
    });
    world.kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } });
  }, 30_000);

  afterAll(async () => {
    await mic?.stop();
    await world?.stop();
  });

  // MIC only writes these events in the background, after the state they describe.
  const events = () => world.kube.list("v1", "Event", "default");
  const eventSeen = (reason: string, binding: string, type: string) =>
    events().some((e) => e.reason === reason && e.involvedObject?.name === binding && e.type === type);

  test("every call of a leader's lifetime is allowed, and every rule is used", async () => {
    const from = world.kube.requests().length;
    mic = await startChartMic(world, "rbac-mic");

    // Assign, then edit the identity in place (the record is rewritten), then delete the pod.
    bind(world, "app");
    world.createPod("app-pod", { node: NODE, ip: "10.244.0.10", binding: "app" });
    await world.waitFor(() => statusOf(world, "app-pod") === "Assigned", 10_000, "app-pod Assigned");
    await world.waitFor(() => eventSeen("binding applied", "app-binding", "Normal"), 5_000, "applied event");
    const identity = world.kube.get(API_VERSION, "AzureIdentity", "default", "app");
    const next = world.identity("app-next");
    world.kube.update({
      ...identity,
      spec: { ...identity?.spec, resourceID: next.resourceId, clientID: next.clientId },
    });
    await world.waitFor(
      () =>
        recordsOf(world, "app-pod").some(
          (r) => r.status?.status === "Assigned" && JSON.stringify(r.spec).includes(next.clientId),
        ),
      10_000,
      "record rewritten for app-next",
    );
    // The second "binding applied" of the same series is a PATCH of the first event's count.
    await world.waitFor(
      () => events().some((e) => e.involvedObject?.name === "app-binding" && e.count === 2),
      5_000,
      "repeated event aggregated",
    );
    world.kube.remove("v1", "Pod", "default", "app-pod");
    await world.waitFor(() => recordsOf(world, "app-pod").length === 0, 10_000, "app-pod record removed");

    // An identity ARM refuses: a Warning event.
    world.arm.denyIdentity(world.identity("denied").resourceId, "LinkedAuthorizationFailed");
    bind(world, "denied");
    world.createPod("denied-pod", { node: NODE, ip: "10.244.0.11", binding: "denied" });
    await world.waitFor(() => eventSeen("binding apply error", "denied-binding", "Warning"), 10_000, "Warning event");

    // A deleted node: its records go.
    bind(world, "vm-app");
    world.createPod("vm-pod", { node: VM, ip: "10.244.0.12", binding: "vm-app" });
    await world.waitFor(() => statusOf(world, "vm-pod") === "Assigned", 10_000, "vm-pod Assigned");
    world.kube.remove("v1", "Node", undefined, VM);
    await world.waitFor(() => recordsOf(world, "vm-pod").length === 0, 10_000, "vm-pod record removed");

    // A clean stop releases the lease.
    expect(await mic.stop()).toBe(0);
    mic = undefined;

    const grants = grantsFor(standard.objects, accountOf(standard, "Deployment"));
    expectExactCoverage(grants, requestsSince(world, from));
  }, 60_000);
});

const TOKEN_PATH = `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://management.azure.com/")}`;

const NMI_POD = "pid-pod-identity-nmi-abcde";

/**
 * NMI's own pod as the DaemonSet controller creates it (owned by the DaemonSet), so that NMI's uninstall
 * check on SIGTERM reads it and then its DaemonSet.
 */
function createNmiPod(world: World, rendered: Rendered) {
  const daemonSet = rendered.find("DaemonSet");
  if (!daemonSet) throw new Error("no NMI DaemonSet rendered");
  world.kube.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: NMI_POD,
      namespace: NAMESPACE,
      labels: daemonSet.spec?.template?.metadata?.labels ?? {},
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "DaemonSet",
          name: daemonSet.metadata.name,
          uid: crypto.randomUUID(),
          controller: true,
        },
      ],
    },
    spec: { nodeName: NODE, hostNetwork: true, containers: [{ name: "nmi", image: "pod-identity" }] },
  });
}

/** NMI (or managed NMI) as the chart runs it, in the node sandbox, against the node's IMDS emulator. */
async function startChartNmi(world: World, rendered: Rendered, sandbox: ReturnType<typeof nodeSandbox>) {
  const daemonSet = rendered.find("DaemonSet");
  createNmiPod(world, rendered);
  const imds = new URL((await world.startImdsFor(NODE)).url);
  const nmiPort = await freePort();
  const args = withoutFlags(renderedArgs(daemonSet, { NODE_NAME: NODE }), ["http-probe-port", "kubelet-config"]);
  const nmi = await startRole(
    world,
    binary,
    [
      ...args,
      `--kubelet-config=${sandbox.kubeletConfigPath}`,
      `--metadata-ip=${imds.hostname}`,
      `--metadata-port=${imds.port}`,
      "--nmi-listen-address=127.0.0.1",
      `--nmi-port=${nmiPort}`,
      `--prometheus-port=${await freePort()}`,
      `--MICNamespace=${NAMESPACE}`,
    ],
    { ...renderedEnv(daemonSet, podFields(NMI_POD)), ...sandbox.env },
    sandbox.wrap,
  );
  await world.waitFor(async () => (await nmi.health()) === "Active", 10_000, "NMI active");
  return { nmi, target: { host: "127.0.0.1", port: nmiPort } };
}

/**
 * A service-principal token request while the first list of its Secret's informer is slow (a loaded API server):
 * that list takes longer than the 3 s NMI waits for it, so NMI reads the one Secret directly (get), and
 * the list then completes and the watch starts. Only the list sees the delay: the latency is reset as
 * soon as the list has reached the server.
 */
async function tokenWhileSecretsListIsSlow(world: World, source: string, target: { host: string; port: number }) {
  const isSecretsList = (r: RequestAttributes) =>
    r.kind === "resource" && r.resource === "secrets" && r.verb === "list" && r.namespace !== undefined;
  const from = world.kube.requests().length;
  world.kube.setLatency(3_500);
  const response = requestFromPod(source, target, TOKEN_PATH);
  try {
    await world.waitFor(() => requestsSince(world, from).some(isSecretsList), 5_000, "secrets list sent");
  } finally {
    world.kube.setLatency(0);
  }
  const result = await response;
  const after = () => requestsSince(world, from);
  expect(after().some((r) => r.kind === "resource" && r.resource === "secrets" && r.verb === "get")).toBe(true);
  await world.waitFor(
    () => after().some((r) => r.kind === "resource" && r.resource === "secrets" && r.verb === "watch"),
    5_000,
    "secrets watch started",
  );
  return result;
}

/** NMI's uninstall check ran on SIGTERM: its pod, then its DaemonSet, were read. */
function expectUninstallCheck(requests: RequestAttributes[], daemonSet: string) {
  const reads = requests
    .filter((r) => r.kind === "resource" && r.verb === "get" && ["pods", "daemonsets"].includes(r.resource))
    .map(describeRequest);
  expect(reads).toEqual([`get core/pods ${NAMESPACE}/${NMI_POD}`, `get apps/daemonsets ${NAMESPACE}/${daemonSet}`]);
}

/** A service principal identity (type 1) whose secret lives in the pod's namespace, bound to `selector`. */
function bindServicePrincipal(world: World, name: string, namespace = "default") {
  const clientId = crypto.randomUUID();
  const secret = `sp-${crypto.randomUUID()}`;
  world.aad.addApp(world.tenantId, clientId, { secret });
  world.kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: `${name}-secret`, namespace },
    data: { clientSecret: Buffer.from(secret).toString("base64") },
  });
  world.kube.create({
    apiVersion: API_VERSION,
    kind: "AzureIdentity",
    metadata: { name, namespace },
    spec: {
      type: 1,
      tenantID: world.tenantId,
      clientID: clientId,
      clientPassword: { name: `${name}-secret`, namespace },
      adEndpoint: `${world.aad.authorityHost}/`,
    },
  });
  world.createAzureIdentityBinding(`${name}-binding`, { azureIdentity: name, selector: name, namespace });
  return clientId;
}

function claimsOf(body: string): Record<string, unknown> {
  const token = String((JSON.parse(body) as { access_token?: unknown }).access_token ?? "");
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

const skipNmi = sandboxSkipReason();
if (skipNmi) console.warn(`skipping NMI RBAC coverage: ${skipNmi}`);

describe("NMI's rendered RBAC", () => {
  let world: World;
  let sandbox: ReturnType<typeof nodeSandbox>;
  let nmi: RoleProcess | undefined;
  let mic: RoleProcess | undefined;

  beforeAll(async () => {
    world = await startWorld({ scaleSets: [{ name: SCALE_SET, nodes: 1 }], identities: ["msi"] });
    world.kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } });
    sandbox = nodeSandbox(world.dir);
  }, 30_000);

  afterAll(async () => {
    await nmi?.stop();
    await mic?.stop();
    await world?.stop();
  });

  test.skipIf(skipNmi !== undefined)(
    "standard mode: every call for a user-assigned and a service-principal token is allowed, every rule used",
    async () => {
      // MIC assigns first (its calls are checked above); NMI's calls are those after it stopped.
      mic = await startChartMic(world, "rbac-mic-for-nmi");
      bind(world, "msi");
      world.createPod("msi-pod", { node: NODE, ip: "127.0.0.21", binding: "msi" });
      const spClientId = bindServicePrincipal(world, "sp");
      world.createPod("sp-pod", { node: NODE, ip: "127.0.0.22", binding: "sp" });
      await world.waitFor(
        () => statusOf(world, "msi-pod") === "Assigned" && statusOf(world, "sp-pod") === "Assigned",
        10_000,
        "both Assigned",
      );
      await mic.stop();
      mic = undefined;

      const from = world.kube.requests().length;
      const started = await startChartNmi(world, standard, sandbox);
      nmi = started.nmi;
      const msi = await requestFromPod("127.0.0.21", started.target, TOKEN_PATH);
      expect(msi.status).toBe(200);
      expect(claimsOf(msi.body).appid).toBe(world.identity("msi").clientId);
      const sp = await tokenWhileSecretsListIsSlow(world, "127.0.0.22", started.target);
      expect(sp.status).toBe(200);
      expect(claimsOf(sp.body).appid).toBe(spClientId);
      expect(await nmi.stop()).toBe(0);
      nmi = undefined;

      const requests = requestsSince(world, from);
      expectUninstallCheck(requests, standard.find("DaemonSet")?.metadata.name ?? "");
      // The same calls against a chart rendered without secrets access: the SP's secret reads are refused.
      const noSecrets = renderChart({ set: ["rbac.allowAccessToSecrets=false"] });
      const refused = coverage(grantsFor(noSecrets.objects, accountOf(noSecrets, "DaemonSet")), requests).forbidden;
      expect([...new Set(refused.map(describeRequest))].sort()).toEqual([
        "get core/secrets default/sp-secret",
        "list core/secrets default/sp-secret",
        "watch core/secrets default/sp-secret",
      ]);

      const grants = grantsFor(standard.objects, accountOf(standard, "DaemonSet"));
      expectExactCoverage(grants, requests);
    },
    60_000,
  );
});

describe("managed-mode NMI's rendered RBAC", () => {
  let world: World;
  let sandbox: ReturnType<typeof nodeSandbox>;
  let nmi: RoleProcess | undefined;

  beforeAll(async () => {
    world = await startWorld({ scaleSets: [{ name: SCALE_SET, nodes: 1 }], identities: ["msi"] });
    world.kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } });
    sandbox = nodeSandbox(world.dir);
  }, 30_000);

  afterAll(async () => {
    await nmi?.stop();
    await world?.stop();
  });

  test.skipIf(skipNmi !== undefined)(
    "every call for a user-assigned and a service-principal token is allowed, every rule used",
    async () => {
      // Managed mode: the identity is put on the scale set outside the cluster.
      const arm = await userArmClient(world);
      await arm.updateIdentities(armTargetOf(world, NODE), { add: [world.identity("msi").resourceId], remove: [] });
      bind(world, "msi");
      world.createPod("msi-pod", { node: NODE, ip: "127.0.0.31", binding: "msi" });
      const spClientId = bindServicePrincipal(world, "sp");
      world.createPod("sp-pod", { node: NODE, ip: "127.0.0.32", binding: "sp" });

      const from = world.kube.requests().length;
      const started = await startChartNmi(world, managed, sandbox);
      nmi = started.nmi;
      const msi = await requestFromPod("127.0.0.31", started.target, TOKEN_PATH);
      expect(msi.status).toBe(200);
      expect(claimsOf(msi.body).appid).toBe(world.identity("msi").clientId);
      const sp = await tokenWhileSecretsListIsSlow(world, "127.0.0.32", started.target);
      expect(sp.status).toBe(200);
      expect(claimsOf(sp.body).appid).toBe(spClientId);
      expect(await nmi.stop()).toBe(0);
      nmi = undefined;

      const requests = requestsSince(world, from);
      expectUninstallCheck(requests, managed.find("DaemonSet")?.metadata.name ?? "");
      expectExactCoverage(grantsFor(managed.objects, accountOf(managed, "DaemonSet")), requests);
    },
    60_000,
  );
});
