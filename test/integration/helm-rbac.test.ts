// The chart's RBAC against what the roles really do: the compiled binary runs a realistic scenario in
// the emulated world with the arguments the chart renders, every request it sends to the API server is
// mapped to RBAC attributes, and each must be allowed by the rules bound to that role's ServiceAccount
// (standard and managed mode). Rules no request used fail the test unless the allow-list below says why
// they are still needed. The first block checks the pure RBAC model (test/support/rbac.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort } from "../../emulators/world/free-port.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { API_VERSION } from "../../src/kube/crds.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { NAMESPACE, type Rendered, renderChart } from "../support/helm-render.ts";
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
import { type RoleProcess, renderedArgs, startRole, withoutFlags } from "../support/rbac-role-process.ts";

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

/**
 * Asserts that the grants allow every request and that each granted permission was used, except those
 * in `allowList` (key: "verb group/resource", value: why it is needed although the scenario did not use
 * it). An allow-list entry for a permission that was used or is not granted fails too, so the list
 * cannot go stale.
 */
function expectExactCoverage(grants: Grant[], requests: RequestAttributes[], allowList: Record<string, string>) {
  const nonResource = requests.filter((r) => r.kind === "nonResource");
  expect(nonResource.filter((r) => !PUBLIC_PATHS.some((p) => p.test(r.path))).map(describeRequest)).toEqual([]);
  const result = coverage(grants, requests);
  expect([...new Set(result.forbidden.map(describeRequest))]).toEqual([]);
  const unused = [...new Set(result.unused.map(permissionKey))].sort();
  expect(unused.filter((key) => !(key in allowList))).toEqual([]);
  expect(Object.keys(allowList).filter((key) => !unused.includes(key))).toEqual([]);
}

let binary: string;
beforeAll(async () => {
  binary = await compiledBinary();
}, 120_000);

describe("MIC's rendered RBAC (standard mode)", () => {
  const SCALE_SET = "aks-nodepool1-31313131-vmss";
  const NODE = `${SCALE_SET}000000`;
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
  const eventSeen = (reason: string, binding: string, type: string) =>
    world.kube
      .list("v1", "Event", "default")
      .some((e) => e.reason === reason && e.involvedObject?.name === binding && e.type === type);
  const recordsOf = (pod: string) => world.assignedIdentities().filter((r) => r.spec?.pod === pod);
  const statusOf = (pod: string) => recordsOf(pod)[0]?.status?.status;
  const bind = (identity: string) => {
    world.createAzureIdentity(identity);
    world.createAzureIdentityBinding(`${identity}-binding`, { azureIdentity: identity, selector: identity });
  };

  test("every call of a leader's lifetime is allowed, and every rule is used or justified", async () => {
    const from = world.kube.requests().length;
    const args = withoutFlags(renderedArgs(standard.find("Deployment")), ["cloudconfig", "http-probe-port"]);
    mic = await startRole(
      world,
      binary,
      [
        ...args,
        `--kubeconfig=${world.kubeconfigPath}`,
        `--cloudconfig=${world.azureJsonPath}`,
        `--prometheus-port=${await freePort()}`,
        "--leader-election-instance=rbac-mic",
        "--leader-election-duration=3s",
        "--unassign-grace-period=500ms",
        "--identity-assignment-reconcile-interval=2s",
        "--update-user-msi-retry-interval=100ms",
      ],
      { MIC_POD_NAMESPACE: NAMESPACE },
    );
    await world.waitFor(async () => (await mic?.health()) === "Active", 10_000, "MIC active");

    // Assign, then edit the identity in place (the record is rewritten), then delete the pod.
    bind("app");
    world.createPod("app-pod", { node: NODE, ip: "10.244.0.10", binding: "app" });
    await world.waitFor(() => statusOf("app-pod") === "Assigned", 10_000, "app-pod Assigned");
    await world.waitFor(() => eventSeen("binding applied", "app-binding", "Normal"), 5_000, "applied event");
    const identity = world.kube.get(API_VERSION, "AzureIdentity", "default", "app");
    const next = world.identity("app-next");
    world.kube.update({
      ...identity,
      spec: { ...identity?.spec, resourceID: next.resourceId, clientID: next.clientId },
    });
    await world.waitFor(
      () =>
        recordsOf("app-pod").some(
          (r) => r.status?.status === "Assigned" && JSON.stringify(r.spec).includes(next.clientId),
        ),
      10_000,
      "record rewritten for app-next",
    );
    // The second "binding applied" of the same series is a PATCH of the first event's count.
    await world.waitFor(
      () =>
        world.kube
          .list("v1", "Event", "default")
          .some((e) => e.involvedObject?.name === "app-binding" && e.count === 2),
      5_000,
      "repeated event aggregated",
    );
    world.kube.remove("v1", "Pod", "default", "app-pod");
    await world.waitFor(() => recordsOf("app-pod").length === 0, 10_000, "app-pod record removed");

    // An identity ARM refuses: a Warning event.
    world.arm.denyIdentity(world.identity("denied").resourceId, "LinkedAuthorizationFailed");
    bind("denied");
    world.createPod("denied-pod", { node: NODE, ip: "10.244.0.11", binding: "denied" });
    await world.waitFor(() => eventSeen("binding apply error", "denied-binding", "Warning"), 10_000, "Warning event");

    // A deleted node: its records go.
    bind("vm-app");
    world.createPod("vm-pod", { node: VM, ip: "10.244.0.12", binding: "vm-app" });
    await world.waitFor(() => statusOf("vm-pod") === "Assigned", 10_000, "vm-pod Assigned");
    world.kube.remove("v1", "Node", undefined, VM);
    await world.waitFor(() => recordsOf("vm-pod").length === 0, 10_000, "vm-pod record removed");

    // A clean stop releases the lease.
    expect(await mic.stop()).toBe(0);
    mic = undefined;

    const grants = grantsFor(standard.objects, accountOf(standard, "Deployment"));
    expectExactCoverage(grants, requestsSince(world, from), {
      "get apiextensions.k8s.io/customresourcedefinitions":
        "no code reads CRDs; kept only because helm-chart.test.ts asserts it — drop both together",
      "list apiextensions.k8s.io/customresourcedefinitions":
        "no code reads CRDs; kept only because helm-chart.test.ts asserts it — drop both together",
    });
  }, 60_000);
});
