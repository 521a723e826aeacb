// @kubernetes/client-node 2.0.1 against the Kubernetes emulator: informers through dropped watches and
// 410 Gone, https with client-cert and bearer-token auth, and the API server semantics the project's
// controllers rely on (optimistic concurrency, finalizers, selectors, status subresource).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as k8s from "@kubernetes/client-node";
import { type KubeEmulator, startKubeEmulator } from "../../emulators/kube/index.ts";
import { until } from "../support/until.ts";

const NS = "default";

function pod(
  name: string,
  extra: { labels?: Record<string, string>; nodeName?: string; podIP?: string; phase?: string } = {},
): k8s.V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: { containers: [{ name: "app", image: "busybox" }], ...(extra.nodeName ? { nodeName: extra.nodeName } : {}) },
    status: { ...(extra.podIP ? { podIP: extra.podIP } : {}), ...(extra.phase ? { phase: extra.phase } : {}) },
  };
}

function kubeConfig(yaml: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(yaml);
  return kc;
}

async function apiError(
  p: Promise<unknown>,
): Promise<{ code: number; body: { reason?: string; message?: string; kind?: string } }> {
  try {
    await p;
  } catch (e) {
    // client-node leaves body undefined for codes its OpenAPI spec lists without a schema (401).
    if (e instanceof k8s.ApiException)
      return { code: e.code, body: typeof e.body === "string" ? JSON.parse(e.body) : (e.body ?? {}) };
    throw e;
  }
  throw new Error("expected the call to fail");
}

async function readWatch(
  url: string,
  count: number,
  init: RequestInit = {},
): Promise<Array<{ type: string; object: Record<string, any> }>> {
  const res = await fetch(url, init);
  const reader = res.body!.getReader();
  const events: Array<{ type: string; object: Record<string, any> }> = [];
  let buffer = "";
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += new TextDecoder().decode(value);
    let nl = buffer.indexOf("\n");
    while (nl >= 0) {
      events.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf("\n");
    }
  }
  await reader.cancel().catch(() => {});
  return events;
}

const WIDGET_CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.example.test" },
  spec: {
    group: "example.test",
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: { type: "object", required: ["size"], properties: { size: { type: "integer" } } },
              status: { type: "object", properties: { ready: { type: "boolean" } } },
            },
          },
        },
      },
    ],
  },
};

const IDENTITY_CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "azureassignedidentities.aadpodidentity.k8s.io" },
  spec: {
    group: "aadpodidentity.k8s.io",
    scope: "Namespaced",
    names: { plural: "azureassignedidentities", singular: "azureassignedidentity", kind: "AzureAssignedIdentity" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: { type: "object", properties: { pod: { type: "string" }, podNamespace: { type: "string" } } },
              status: { type: "object", properties: { status: { type: "string" } } },
            },
          },
        },
      },
    ],
  },
};

describe("client-node informer against the http emulator", () => {
  let emu: KubeEmulator;
  beforeAll(async () => {
    emu = await startKubeEmulator();
  });
  afterAll(() => emu.stop());

  test("sees add, update and delete, and keeps watching after dropped watches and a 410 Gone", async () => {
    const kc = kubeConfig(emu.kubeconfigYaml);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const events: string[] = [];
    const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${NS}/pods`, () =>
      core.listNamespacedPod({ namespace: NS }),
    );
    informer.on("add", (p) => events.push(`add ${p.metadata?.name}`));
    informer.on("update", (p) => events.push(`update ${p.metadata?.name} ${p.metadata?.labels?.v ?? ""}`));
    informer.on("delete", (p) => events.push(`delete ${p.metadata?.name}`));
    informer.on("error", (e) => events.push(`error ${e}`));
    emu.create(pod("before-start"));
    await informer.start();
    try {
      await until("initial add", () => events.includes("add before-start"));
      const watches = () => emu.requests().filter((r) => r.path.includes("watch=true")).length;
      await until("watch open", () => watches() >= 1);

      emu.create(pod("p1"));
      await until("add p1", () => events.includes("add p1"));
      const p1 = emu.get("v1", "Pod", NS, "p1")!;
      emu.update({ ...p1, metadata: { ...p1.metadata, labels: { v: "2" } } });
      await until("update p1", () => events.includes("update p1 2"));
      emu.remove("v1", "Pod", NS, "p1");
      await until("delete p1", () => events.includes("delete p1"));

      // Dropped watch: the informer re-watches from its last resourceVersion and misses nothing.
      const watchesBeforeDrop = watches();
      emu.dropWatches();
      await until("re-watch", () => watches() > watchesBeforeDrop);
      emu.create(pod("p2"));
      await until("add p2 after drop", () => events.includes("add p2"));

      // 410: while no watch is open, a change happens and history is compacted; the informer's resume
      // point is now too old, so it must re-list (and find p3) and watch again.
      const lists = () =>
        emu
          .requests()
          .filter(
            (r) =>
              r.method === "GET" &&
              r.path.startsWith(`/api/v1/namespaces/${NS}/pods`) &&
              !r.path.includes("watch=true"),
          ).length;
      const listsBefore = lists();
      emu.dropWatches();
      emu.create(pod("p3"));
      emu.compactHistory();
      await until("add p3 after 410", () => events.includes("add p3"));
      expect(lists()).toBeGreaterThan(listsBefore);
      emu.create(pod("p4"));
      await until("add p4 after re-list", () => events.includes("add p4"));
      expect(events.filter((e) => e.startsWith("error"))).toEqual([]);
    } finally {
      await informer.stop();
    }
  });

  test("a watch from a compacted resourceVersion gets one ERROR event carrying a 410 Expired Status", async () => {
    const old = emu.resourceVersion();
    emu.create(pod("compacted"));
    emu.compactHistory();
    const events = await readWatch(`${emu.url}/api/v1/namespaces/${NS}/pods?watch=true&resourceVersion=${old}`, 1);
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe("ERROR");
    expect(events[0]!.object).toMatchObject({ kind: "Status", status: "Failure", code: 410, reason: "Expired" });
  });

  test("a list with a too-old resourceVersion: NotOlderThan answers with current state, Exact with 410", async () => {
    const old = emu.resourceVersion() - 1;
    emu.compactHistory();
    const notOlder = await fetch(
      `${emu.url}/api/v1/namespaces/${NS}/pods?resourceVersion=${old}&resourceVersionMatch=NotOlderThan`,
    );
    expect(notOlder.status).toBe(200);
    const body = (await notOlder.json()) as { metadata: { resourceVersion: string }; items: unknown[] };
    expect(Number(body.metadata.resourceVersion)).toBe(emu.resourceVersion());
    const exact = await fetch(
      `${emu.url}/api/v1/namespaces/${NS}/pods?resourceVersion=${old}&resourceVersionMatch=Exact`,
    );
    expect(exact.status).toBe(410);
    expect(((await exact.json()) as { reason: string }).reason).toBe("Expired");
  });

  test("watches with allowWatchBookmarks get BOOKMARK events; timeoutSeconds ends the stream", async () => {
    const fast = await startKubeEmulator({ bookmarkIntervalMs: 50 });
    try {
      const rv = fast.resourceVersion();
      const events = await readWatch(
        `${fast.url}/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`,
        1,
      );
      expect(events[0]!.type).toBe("BOOKMARK");
      expect(events[0]!.object).toEqual({ kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: String(rv) } });
      const res = await fetch(`${fast.url}/api/v1/pods?watch=true&resourceVersion=${rv}&timeoutSeconds=1`);
      expect(await res.text()).toBe("");
    } finally {
      await fast.stop();
    }
  });
});

describe("client-node over https", () => {
  let emu: KubeEmulator;
  beforeAll(async () => {
    emu = await startKubeEmulator({ tls: true });
  });
  afterAll(() => emu.stop());

  test("CoreV1Api authenticates with the kubeconfig's client certificate (TLS shim)", async () => {
    const core = kubeConfig(emu.kubeconfigYaml).makeApiClient(k8s.CoreV1Api);
    const created = await core.createNamespacedPod({
      namespace: NS,
      body: pod("tls-pod", { nodeName: "node-1", podIP: "10.1.0.5", phase: "Running" }),
    });
    expect(created.metadata?.uid).toBeString();
    const read = await core.readNamespacedPod({ namespace: NS, name: "tls-pod" });
    expect(read.status?.podIP).toBe("10.1.0.5");
    expect(read.status?.phase).toBe("Running");
    expect(read.spec?.nodeName).toBe("node-1");
  });

  test("CoreV1Api authenticates with the bearer token", async () => {
    const core = kubeConfig(emu.tokenKubeconfigYaml).makeApiClient(k8s.CoreV1Api);
    const list = await core.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toContain("kube-system");
  });

  test("a client with neither a certificate nor the token gets 401 Unauthorized", async () => {
    const anonymous = emu.tokenKubeconfigYaml.replace(/token: .*/, 'token: "wrong"');
    const core = kubeConfig(anonymous).makeApiClient(k8s.CoreV1Api);
    const err = await apiError(core.listNamespace());
    expect(err.code).toBe(401);
    const raw = await fetch(`${emu.url}/api/v1/namespaces`, { tls: { ca: emu.caPem } } as RequestInit);
    expect(raw.status).toBe(401);
    expect(await raw.json()).toMatchObject({ kind: "Status", status: "Failure", reason: "Unauthorized", code: 401 });
  });

  test("a certificate from another CA is not accepted", async () => {
    const { createCertificateAuthority } = await import("../../emulators/common/pki.ts");
    const stranger = createCertificateAuthority("stranger").issueClient("admin", ["system:masters"]);
    const yaml = emu.kubeconfigYaml
      .replace(
        /client-certificate-data: .*/,
        `client-certificate-data: "${Buffer.from(stranger.certPem).toString("base64")}"`,
      )
      .replace(/client-key-data: .*/, `client-key-data: "${Buffer.from(stranger.keyPem).toString("base64")}"`);
    const err = await apiError(kubeConfig(yaml).makeApiClient(k8s.CoreV1Api).listNamespace());
    expect(err.code).toBe(401);
  });
});

describe("API semantics through client-node", () => {
  let emu: KubeEmulator;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  beforeAll(async () => {
    emu = await startKubeEmulator();
    const kc = kubeConfig(emu.kubeconfigYaml);
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
  });
  afterAll(() => emu.stop());

  test("create of an existing name is 409 AlreadyExists; get of a missing one is 404 NotFound", async () => {
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "dup" } } });
    const dup = await apiError(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "dup" } } }));
    expect(dup).toMatchObject({
      code: 409,
      body: { kind: "Status", reason: "AlreadyExists", message: 'configmaps "dup" already exists' },
    });
    const missing = await apiError(core.readNamespacedConfigMap({ namespace: NS, name: "nope" }));
    expect(missing).toMatchObject({ code: 404, body: { reason: "NotFound", message: 'configmaps "nope" not found' } });
  });

  test("generateName gives a unique name with the prefix", async () => {
    const made = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { generateName: "gen-" } } });
    expect(made.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  test("an update with a stale resourceVersion is 409 Conflict; the current one succeeds and bumps it", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "occ" }, data: { a: "1" } },
    });
    const fresh = await core.replaceNamespacedConfigMap({
      namespace: NS,
      name: "occ",
      body: { ...cm, data: { a: "2" } },
    });
    expect(Number(fresh.metadata?.resourceVersion)).toBeGreaterThan(Number(cm.metadata?.resourceVersion));
    const stale = await apiError(
      core.replaceNamespacedConfigMap({ namespace: NS, name: "occ", body: { ...cm, data: { a: "3" } } }),
    );
    expect(stale.code).toBe(409);
    expect(stale.body.reason).toBe("Conflict");
    expect(stale.body.message).toContain("the object has been modified");
  });

  test("a DaemonSet with a finalizer can be read with AppsV1Api and carries a deletionTimestamp once deleted", async () => {
    const apps = kubeConfig(emu.kubeconfigYaml).makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDaemonSet({
      namespace: NS,
      body: {
        metadata: { name: "nmi", finalizers: ["example.com/hold"] },
        spec: {
          selector: { matchLabels: { app: "nmi" } },
          template: { metadata: { labels: { app: "nmi" } }, spec: { containers: [{ name: "nmi", image: "x" }] } },
        },
      },
    });
    expect(
      (await apps.readNamespacedDaemonSet({ namespace: NS, name: "nmi" })).metadata?.deletionTimestamp,
    ).toBeUndefined();
    await apps.deleteNamespacedDaemonSet({ namespace: NS, name: "nmi" });
    const deleting = await apps.readNamespacedDaemonSet({ namespace: NS, name: "nmi" });
    expect(deleting.metadata?.deletionTimestamp).toBeInstanceOf(Date);
  });

  test("a lease can be created and renewed with CoordinationV1Api; renewing from a stale copy is 409", async () => {
    const coord = kubeConfig(emu.kubeconfigYaml).makeApiClient(k8s.CoordinationV1Api);
    const now = new k8s.V1MicroTime(new Date().toISOString());
    const lease = await coord.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: { name: "mic" },
        spec: { holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: now, renewTime: now },
      },
    });
    const renewed = await coord.replaceNamespacedLease({
      namespace: NS,
      name: "mic",
      body: { ...lease, spec: { ...lease.spec, holderIdentity: "a", leaseTransitions: 0 } },
    });
    expect(renewed.spec?.holderIdentity).toBe("a");
    const lost = await apiError(
      coord.replaceNamespacedLease({
        namespace: NS,
        name: "mic",
        body: { ...lease, spec: { ...lease.spec, holderIdentity: "b" } },
      }),
    );
    expect(lost.code).toBe(409);
  });

  test("delete with finalizers sets deletionTimestamp and keeps the object until an update removes them", async () => {
    const events = readWatch(
      `${emu.url}/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=${emu.resourceVersion()}&fieldSelector=metadata.name%3Dfin`,
      3,
    );
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "fin", finalizers: ["example.test/hold"] } },
    });
    await core.deleteNamespacedConfigMap({ namespace: NS, name: "fin" });
    const terminating = await core.readNamespacedConfigMap({ namespace: NS, name: "fin" });
    expect(terminating.metadata?.deletionTimestamp).toBeDefined();
    const added = await apiError(
      core.replaceNamespacedConfigMap({
        namespace: NS,
        name: "fin",
        body: {
          ...terminating,
          metadata: { ...terminating.metadata, finalizers: ["example.test/hold", "example.test/new"] },
        },
      }),
    );
    expect(added.code).toBe(422);
    await core.replaceNamespacedConfigMap({
      namespace: NS,
      name: "fin",
      body: { ...terminating, metadata: { ...terminating.metadata, finalizers: [] } },
    });
    expect((await apiError(core.readNamespacedConfigMap({ namespace: NS, name: "fin" }))).code).toBe(404);
    expect((await events).map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "DELETED"]);
  });

  test("label selectors: =, ==, !=, in, notin, exists, !exists", async () => {
    emu.create(pod("l-a", { labels: { app: "web", tier: "front" } }));
    emu.create(pod("l-b", { labels: { app: "db" } }));
    emu.create(pod("l-c", { labels: { team: "x" } }));
    const names = async (labelSelector: string) =>
      (await core.listNamespacedPod({ namespace: NS, labelSelector })).items
        .map((p) => p.metadata?.name)
        .filter((n) => n?.startsWith("l-"))
        .sort();
    expect(await names("app=web")).toEqual(["l-a"]);
    expect(await names("app==db")).toEqual(["l-b"]);
    expect(await names("app!=web")).toEqual(["l-b", "l-c"]);
    expect(await names("app in (web,db)")).toEqual(["l-a", "l-b"]);
    expect(await names("app notin (web)")).toEqual(["l-b", "l-c"]);
    expect(await names("tier")).toEqual(["l-a"]);
    expect(await names("!app")).toEqual(["l-c"]);
    expect(await names("app,tier=front")).toEqual(["l-a"]);
    expect((await apiError(core.listNamespacedPod({ namespace: NS, labelSelector: "app in (" }))).code).toBe(400);
  });

  test("field selectors on pods: metadata.name, metadata.namespace, spec.nodeName, status.podIP, status.phase; unknown → 400", async () => {
    emu.create(pod("f-a", { nodeName: "n1", podIP: "10.0.0.1", phase: "Running" }));
    emu.create(pod("f-b", { nodeName: "n2", podIP: "10.0.0.2" }));
    const names = async (fieldSelector: string) =>
      (await core.listPodForAllNamespaces({ fieldSelector })).items
        .map((p) => p.metadata?.name)
        .filter((n) => n?.startsWith("f-"))
        .sort();
    expect(await names("spec.nodeName=n1")).toEqual(["f-a"]);
    expect(await names("status.podIP=10.0.0.2")).toEqual(["f-b"]);
    expect(await names("status.phase=Running")).toEqual(["f-a"]);
    expect(await names("status.phase!=Running,metadata.namespace=default,metadata.name=f-b")).toEqual(["f-b"]);
    const bad = await apiError(core.listPodForAllNamespaces({ fieldSelector: "spec.bogus=1" }));
    expect(bad).toMatchObject({
      code: 400,
      body: { reason: "BadRequest", message: "field label not supported: spec.bogus" },
    });
  });

  test("a filtered watch reports an object leaving the selection as DELETED", async () => {
    emu.create(pod("move", { labels: { sel: "yes" } }));
    const events = readWatch(
      `${emu.url}/api/v1/namespaces/${NS}/pods?watch=true&labelSelector=sel%3Dyes&resourceVersion=${emu.resourceVersion()}`,
      1,
    );
    await Bun.sleep(50);
    emu.patch("v1", "Pod", NS, "move", { metadata: { labels: { sel: "no" } } });
    const got = await events;
    expect(got[0]?.type).toBe("DELETED");
    expect(got[0]?.object.metadata.name).toBe("move");
  });

  test("CRD with a status subresource: main writes ignore status, /status writes ignore spec", async () => {
    emu.create(WIDGET_CRD);
    const discovery = (await (await fetch(`${emu.url}/apis/example.test/v1`)).json()) as {
      resources: Array<{ name: string }>;
    };
    expect(discovery.resources.map((r) => r.name).sort()).toEqual(["widgets", "widgets/status"]);
    const group = { group: "example.test", version: "v1", namespace: NS, plural: "widgets" };
    const created = await custom.createNamespacedCustomObject({
      ...group,
      body: {
        apiVersion: "example.test/v1",
        kind: "Widget",
        metadata: { name: "w" },
        spec: { size: 1 },
        status: { ready: true },
      },
    });
    expect(created.status).toBeUndefined();
    const mainWrite = await custom.replaceNamespacedCustomObject({
      ...group,
      name: "w",
      body: { ...created, spec: { size: 2 }, status: { ready: true } },
    });
    expect(mainWrite.spec.size).toBe(2);
    expect(mainWrite.status).toBeUndefined();
    expect(mainWrite.metadata.generation).toBe(2);
    const statusWrite = await custom.replaceNamespacedCustomObjectStatus({
      ...group,
      name: "w",
      body: { ...mainWrite, spec: { size: 99 }, status: { ready: true } },
    });
    expect(statusWrite.status).toEqual({ ready: true });
    expect(statusWrite.spec.size).toBe(2);
    expect(statusWrite.metadata.generation).toBe(2);
    const invalid = await apiError(
      custom.createNamespacedCustomObject({
        ...group,
        body: { apiVersion: "example.test/v1", kind: "Widget", metadata: { name: "bad" }, spec: { size: "big" } },
      }),
    );
    expect(invalid.code).toBe(422);
    expect(invalid.body.reason).toBe("Invalid");
  });

  test("CRD without a status subresource (aadpodidentity): /status is 404 and status is written with the object", async () => {
    emu.create(IDENTITY_CRD);
    const group = { group: "aadpodidentity.k8s.io", version: "v1", namespace: NS, plural: "azureassignedidentities" };
    const created = await custom.createNamespacedCustomObject({
      ...group,
      body: {
        apiVersion: "aadpodidentity.k8s.io/v1",
        kind: "AzureAssignedIdentity",
        metadata: { name: "a" },
        spec: { pod: "p", podNamespace: NS },
        status: { status: "Created" },
      },
    });
    expect(created.status).toEqual({ status: "Created" });
    const notServed = await apiError(custom.getNamespacedCustomObjectStatus({ ...group, name: "a" }));
    expect(notServed.code).toBe(404);
    const patched = await custom.patchNamespacedCustomObject(
      { ...group, name: "a", body: { status: { status: "Assigned" } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    expect(patched.status).toEqual({ status: "Assigned" });
    const noRv = await apiError(
      custom.replaceNamespacedCustomObject({
        ...group,
        name: "a",
        body: { ...patched, metadata: { name: "a", namespace: NS } },
      }),
    );
    expect(noRv.code).toBe(422);
    const strategic = await apiError(
      custom.patchNamespacedCustomObject(
        { ...group, name: "a", body: { status: { status: "x" } } },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch),
      ),
    );
    expect(strategic.code).toBe(415);
  });

  test("unknown custom-resource fields: fieldValidation=Strict is 400, the default prunes them with a Warning header", async () => {
    const url = `${emu.url}/apis/example.test/v1/namespaces/${NS}/widgets`;
    const body = (name: string) =>
      JSON.stringify({
        apiVersion: "example.test/v1",
        kind: "Widget",
        metadata: { name },
        spec: { size: 1, colour: "red" },
      });
    const strict = await fetch(`${url}?fieldValidation=Strict`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: body("strict"),
    });
    expect(strict.status).toBe(400);
    expect(((await strict.json()) as { message: string }).message).toBe(
      'strict decoding error: unknown field "spec.colour"',
    );
    const warn = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: body("warn"),
    });
    expect(warn.status).toBe(201);
    expect(warn.headers.get("warning")).toContain('unknown field \\"spec.colour\\"');
    expect(((await warn.json()) as { spec: object }).spec).toEqual({ size: 1 });
  });

  test("a null in a non-nullable custom-resource field is dropped (or defaulted), not rejected, as kube-apiserver does", async () => {
    const url = `${emu.url}/apis/example.test/v1/namespaces/${NS}/widgets`;
    const created = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        apiVersion: "example.test/v1",
        kind: "Widget",
        metadata: { name: "with-null" },
        spec: { size: 2 },
        status: null,
      }),
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as Record<string, unknown>;
    expect("status" in body).toBe(false);
    expect(body.spec).toEqual({ size: 2 });
    const wrongType = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        apiVersion: "example.test/v1",
        kind: "Widget",
        metadata: { name: "bad" },
        spec: { size: "x" },
      }),
    });
    expect(wrongType.status).toBe(422);
  });

  test("JSON patch: a failing test op is 422 and changes nothing", async () => {
    emu.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "jp", namespace: NS }, data: { k: "v" } });
    const failed = await apiError(
      core.patchNamespacedConfigMap(
        {
          namespace: NS,
          name: "jp",
          body: [
            { op: "test", path: "/data/k", value: "other" },
            { op: "replace", path: "/data/k", value: "changed" },
          ],
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      ),
    );
    expect(failed.code).toBe(422);
    expect(emu.get("v1", "ConfigMap", NS, "jp")!.data).toEqual({ k: "v" });
  });

  test("failNext answers matching requests with a Status error, then lets them through", async () => {
    emu.failNext({ method: "GET", pathIncludes: "/namespaces/default/secrets" }, 503, 2);
    expect((await apiError(core.listNamespacedSecret({ namespace: NS }))).code).toBe(503);
    expect((await apiError(core.listNamespacedSecret({ namespace: NS }))).body.reason).toBe("ServiceUnavailable");
    expect((await core.listNamespacedSecret({ namespace: NS })).items).toBeArray();
  });
});
