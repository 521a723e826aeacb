// src/kube against the Kubernetes API emulator, through @kubernetes/client-node: client config,
// CRD client, informers (add/update/delete, dropped watches, 410 Gone, API errors), events, https.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadAllYaml } from "@kubernetes/client-node";
import { type KubeEmulator, startKubeEmulator } from "../../emulators/kube/index.ts";
import { createKubeClient, type KubeClient, loadKubeConfig } from "../../src/kube/client.ts";
import { createCrdClient } from "../../src/kube/crd-client.ts";
import { API_VERSION } from "../../src/kube/crds.ts";
import { isConflict, isNotFound, KubeApiError } from "../../src/kube/errors.ts";
import { EventRecorder } from "../../src/kube/events.ts";
import { INDEX_ASSIGNED_BY_NODE, INDEX_ASSIGNED_BY_POD, INDEX_POD_IP } from "../../src/kube/indexes.ts";
import {
  azureAssignedIdentityInformer,
  azureIdentityInformer,
  nodeInformer,
  podInformer,
} from "../../src/kube/informers.ts";
import { until } from "../support/until.ts";

const CRD_YAML = resolve(import.meta.dir, "../../helm/pod-identity/crds/crd.yaml");
const tmp = mkdtempSync(join(tmpdir(), "kube-access-"));
const UA = "pod-identity/MIC/test/abc/today";
let kube: KubeEmulator;
let client: KubeClient;
const stoppers: Array<() => Promise<void>> = [];

function installCrds(emulator: KubeEmulator): void {
  for (const doc of loadAllYaml(readFileSync(CRD_YAML, "utf8"))) {
    if (doc?.kind === "CustomResourceDefinition") emulator.create(doc);
  }
}

function clientFor(emulator: KubeEmulator, name: string, yaml = emulator.kubeconfigYaml): KubeClient {
  const path = join(tmp, `${name}.kubeconfig`);
  writeFileSync(path, yaml);
  return createKubeClient(loadKubeConfig({ kubeconfigPath: path, env: {} }), { userAgent: UA });
}

/** Creates a pod, then sets its status (the API server ignores status on create). */
function createPod(name: string, node: string, ip: string, phase = "Running", namespace = "default") {
  const created = kube.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { aadpodidbinding: "sel" } },
    spec: { nodeName: node, containers: [{ name: "c", image: "busybox" }] },
  });
  return kube.updateStatus({ ...created, status: { phase, podIP: ip, podIPs: [{ ip }] } });
}

function assignedIdentity(name: string, pod: string, node: string) {
  return {
    apiVersion: API_VERSION,
    kind: "AzureAssignedIdentity",
    metadata: { name, namespace: "default", labels: { nodename: node } },
    spec: { pod, podNamespace: "default", nodename: node },
    status: { status: "Created", availableReplicas: 1 },
  };
}

function track<T extends { stop(): Promise<void> }>(informer: T): T {
  stoppers.push(() => informer.stop());
  return informer;
}

beforeAll(async () => {
  kube = await startKubeEmulator();
  installCrds(kube);
  client = clientFor(kube, "http");
});

afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
  await kube?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("client", () => {
  test("sends our User-Agent on client-node API calls and raw list/watch requests", async () => {
    const seen: string[] = [];
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        seen.push(req.headers.get("user-agent") ?? "");
        return Response.json({ kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "1" }, items: [] });
      },
    });
    try {
      const path = join(tmp, "ua.kubeconfig");
      writeFileSync(
        path,
        `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:${server.port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n`,
      );
      const c = createKubeClient(loadKubeConfig({ kubeconfigPath: path, env: {} }), { userAgent: UA });
      await c.pods.list("default");
      await c.requestJson("GET", "/api/v1/pods");
      expect(seen).toEqual([UA, UA]);
    } finally {
      server.stop(true);
    }
  });

  test("API errors are KubeApiError with the code and the parsed Status", async () => {
    const err = await client.pods.get("default", "does-not-exist").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(isNotFound(err)).toBe(true);
    expect((err as KubeApiError).reason).toBe("NotFound");
    const raw = await client.requestJson("GET", "/api/v1/namespaces/default/pods/nope").catch((e: unknown) => e);
    expect(isNotFound(raw)).toBe(true);
    expect((raw as KubeApiError).status?.kind).toBe("Status");
  });

  test("typed facade: configmaps create/get/replace with optimistic concurrency, secrets get", async () => {
    const created = await client.configMaps.create("default", {
      metadata: { name: "cfg", namespace: "default" },
      data: { "type-upgrade-status": "" },
    });
    const got = await client.configMaps.get("default", "cfg");
    expect(got.data?.["type-upgrade-status"]).toBe("");
    await client.configMaps.replace("default", "cfg", { ...got, data: { "type-upgrade-status": "v1" } });
    const stale = await client.configMaps.replace("default", "cfg", created).catch((e: unknown) => e);
    expect(isConflict(stale)).toBe(true);
    kube.create({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "sp", namespace: "default" },
      data: { clientSecret: btoa("s3cret") },
    });
    const secret = await client.secrets.get("default", "sp");
    expect(atob(secret.data?.clientSecret ?? "")).toBe("s3cret");
  });
});

describe("in-cluster configuration over https", () => {
  test("uses the service-account CA and token, and picks up a rotated token without a restart", async () => {
    const tls = await startKubeEmulator({ tls: true });
    try {
      const sa = mkdtempSync(join(tmp, "sa-"));
      writeFileSync(join(sa, "ca.crt"), tls.caPem ?? "");
      writeFileSync(join(sa, "token"), "expired-token");
      writeFileSync(join(sa, "namespace"), "default");
      const port = new URL(tls.url).port;
      const kc = loadKubeConfig({
        env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: port },
        serviceAccountDir: sa,
      });
      const c = createKubeClient(kc, { userAgent: UA });
      const denied = await c.nodes.list().catch((e: unknown) => e);
      expect((denied as KubeApiError).code).toBe(401);
      writeFileSync(join(sa, "token.next"), tls.bearerToken);
      renameSync(join(sa, "token.next"), join(sa, "token"));
      const nodes = await c.nodes.list();
      expect(nodes.items).toEqual([]);
    } finally {
      await tls.stop();
    }
  });

  test("a client-certificate kubeconfig works for API calls and informers (Bun TLS shim)", async () => {
    const tls = await startKubeEmulator({ tls: true });
    const c = clientFor(tls, "tls");
    const informer = nodeInformer(c, { backoff: { initialMs: 50, maxMs: 200 } });
    try {
      tls.create({ apiVersion: "v1", kind: "Node", metadata: { name: "n-tls" }, spec: { providerID: "azure:///x" } });
      expect((await c.nodes.get("n-tls")).spec?.providerID).toBe("azure:///x");
      informer.start();
      await informer.synced;
      expect(informer.get("", "n-tls")?.spec.providerID).toBe("azure:///x");
      tls.create({ apiVersion: "v1", kind: "Node", metadata: { name: "n-tls-2" } });
      await until("watch over https delivers the new node", () => informer.get("", "n-tls-2") !== undefined);
    } finally {
      await informer.stop();
      await tls.stop();
    }
  });
});

describe("CRD client", () => {
  test("round trip: create, get, list, update (409 when stale), JSON-patch /status/status, delete", async () => {
    const crd = createCrdClient(client);
    const created = await crd.create("AzureAssignedIdentity", assignedIdentity("p1-default-id1", "p1", "n1"));
    if (!created.ok) throw new Error(created.problems.join("; "));
    expect(created.value.status.status).toBe("Created");

    const got = await crd.get("AzureAssignedIdentity", "default", "p1-default-id1");
    expect(got.ok && got.value.spec.nodename).toBe("n1");

    const listed = await crd.list("AzureAssignedIdentity", "default", { labelSelector: "nodename=n1" });
    expect(listed.items.map((a) => a.metadata.name)).toContain("p1-default-id1");
    expect(listed.resourceVersion).not.toBe("");
    const otherNode = await crd.list("AzureAssignedIdentity", undefined, { labelSelector: "nodename=elsewhere" });
    expect(otherNode.items).toEqual([]);

    const updated = await crd.update("AzureAssignedIdentity", {
      ...created.value,
      spec: { ...created.value.spec, pod: "p1" },
      metadata: { ...created.value.metadata, finalizers: ["azureassignedidentity.finalizers.aadpodidentity.k8s.io"] },
    });
    expect(updated.ok && updated.value.metadata.finalizers).toEqual([
      "azureassignedidentity.finalizers.aadpodidentity.k8s.io",
    ]);
    const stale = await crd.update("AzureAssignedIdentity", created.value).catch((e: unknown) => e);
    expect(isConflict(stale)).toBe(true);

    // No status subresource on these CRDs: the status lives in the main resource.
    const patched = await crd.jsonPatch("AzureAssignedIdentity", "default", "p1-default-id1", [
      { op: "replace", path: "/status/status", value: "Assigned" },
    ]);
    expect(patched.ok && patched.value.status.status).toBe("Assigned");
    expect(kube.get(API_VERSION, "AzureAssignedIdentity", "default", "p1-default-id1")?.status?.status).toBe(
      "Assigned",
    );

    await crd.delete("AzureAssignedIdentity", "default", "p1-default-id1");
    // The finalizer keeps it until removed, as MIC does: DELETE, then PUT without the finalizer.
    const terminating = await crd.get("AzureAssignedIdentity", "default", "p1-default-id1");
    if (!terminating.ok) throw new Error("expected a valid object");
    expect(terminating.value.metadata.deletionTimestamp).toBeTruthy();
    await crd.update("AzureAssignedIdentity", {
      ...terminating.value,
      metadata: { ...terminating.value.metadata, finalizers: [] },
    });
    const gone = await crd.get("AzureAssignedIdentity", "default", "p1-default-id1").catch((e: unknown) => e);
    expect(isNotFound(gone)).toBe(true);
  });

  test("a malformed AzureIdentity is reported as problems by get and list, never thrown", async () => {
    const crd = createCrdClient(client);
    kube.create({
      apiVersion: API_VERSION,
      kind: "AzureIdentity",
      metadata: { name: "bad-type", namespace: "default" },
      spec: { type: 7, clientID: "c" },
    });
    kube.create({
      apiVersion: API_VERSION,
      kind: "AzureIdentity",
      metadata: { name: "good", namespace: "default" },
      spec: {
        type: 0,
        clientID: "c",
        resourceID: "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u",
      },
    });
    const got = await crd.get("AzureIdentity", "default", "bad-type");
    expect(got.ok).toBe(false);
    if (!got.ok) expect(got.problems.join("\n")).toContain("spec.type");
    const listed = await crd.list("AzureIdentity", "default");
    expect(listed.items.map((i) => i.metadata.name)).toEqual(["good"]);
    expect(listed.invalid).toEqual([{ namespace: "default", name: "bad-type", problems: expect.any(Array) }]);
  });
});

describe("informers", () => {
  test("deliver add/update/delete, keep the pod-IP index current, and skip updates that change nothing", async () => {
    const events: string[] = [];
    const informer = track(podInformer(client, { namespace: "default" }));
    informer.on("add", (p) => events.push(`add ${p.metadata.name}`));
    informer.on("update", (p, old) => events.push(`update ${p.metadata.name} ${old.status.podIP}->${p.status.podIP}`));
    informer.on("delete", (p) => events.push(`delete ${p.metadata.name}`));
    createPod("web-1", "n1", "10.1.0.1");
    expect(informer.hasSynced()).toBe(false);
    informer.start();
    await informer.synced;
    expect(informer.hasSynced()).toBe(true);
    expect(events).toEqual(["add web-1"]);
    expect(informer.byIndex(INDEX_POD_IP, "10.1.0.1").map((p) => p.metadata.name)).toEqual(["web-1"]);

    createPod("web-2", "n1", "10.1.0.2", "Pending");
    await until("add web-2", () => events.includes("add web-2"));
    const pod = kube.get("v1", "Pod", "default", "web-1");
    kube.updateStatus({ ...pod, status: { ...pod?.status, podIP: "10.1.0.9", podIPs: [{ ip: "10.1.0.9" }] } });
    await until("update web-1", () => events.includes("update web-1 10.1.0.1->10.1.0.9"));
    expect(informer.byIndex(INDEX_POD_IP, "10.1.0.1")).toEqual([]);
    expect(informer.byIndex(INDEX_POD_IP, "10.1.0.9").map((p) => p.metadata.name)).toEqual(["web-1"]);

    const finished = kube.get("v1", "Pod", "default", "web-2");
    kube.updateStatus({ ...finished, status: { ...finished?.status, phase: "Succeeded" } });
    await until(
      "web-2 leaves the IP index when it finishes",
      () => informer.byIndex(INDEX_POD_IP, "10.1.0.2").length === 0,
    );

    kube.remove("v1", "Pod", "default", "web-1");
    await until("delete web-1", () => events.includes("delete web-1"));
    expect(informer.get("default", "web-1")).toBeUndefined();
    expect(informer.byIndex(INDEX_POD_IP, "10.1.0.9")).toEqual([]);
    // Every change produced exactly one event (no duplicates from the list/watch overlap).
    expect(events.filter((e) => e === "add web-2")).toHaveLength(1);
  });

  test("field and label selectors restrict what is cached; assigned identities are indexed by pod and node", async () => {
    createPod("sel-a", "node-a", "10.2.0.1");
    createPod("sel-b", "node-b", "10.2.0.2");
    const pods = track(podInformer(client, { fieldSelector: "spec.nodeName=node-a" }));
    kube.create(assignedIdentity("sel-a-default-x", "sel-a", "node-a"));
    kube.create(assignedIdentity("sel-b-default-x", "sel-b", "node-b"));
    const assigned = track(azureAssignedIdentityInformer(client, { labelSelector: "nodename=node-a" }));
    pods.start();
    assigned.start();
    await Promise.all([pods.synced, assigned.synced]);
    expect(pods.list().map((p) => p.metadata.name)).toEqual(["sel-a"]);
    expect(assigned.list().map((a) => a.metadata.name)).toEqual(["sel-a-default-x"]);
    expect(assigned.byIndex(INDEX_ASSIGNED_BY_POD, "default/sel-a").map((a) => a.metadata.name)).toEqual([
      "sel-a-default-x",
    ]);
    expect(assigned.byIndex(INDEX_ASSIGNED_BY_NODE, "node-a")).toHaveLength(1);
    expect(assigned.byIndex(INDEX_ASSIGNED_BY_NODE, "node-b")).toEqual([]);

    kube.create(assignedIdentity("sel-a-default-y", "sel-a", "node-a"));
    kube.create(assignedIdentity("sel-b-default-y", "sel-b", "node-b"));
    await until(
      "second assignment for sel-a",
      () => assigned.byIndex(INDEX_ASSIGNED_BY_POD, "default/sel-a").length === 2,
    );
    expect(assigned.byIndex(INDEX_ASSIGNED_BY_POD, "default/sel-b")).toEqual([]);
  });

  test("a malformed AzureIdentity is reported through onInvalid and never cached; fixing it adds it", async () => {
    const invalid: string[] = [];
    const added: string[] = [];
    const informer = track(
      azureIdentityInformer(client, {
        namespace: "inv",
        onInvalid: (r) => invalid.push(`${r.namespace}/${r.name}: ${r.problems.join(",")}`),
      }),
    );
    informer.on("add", (i) => added.push(i.metadata.name));
    kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "inv" } });
    kube.create({
      apiVersion: API_VERSION,
      kind: "AzureIdentity",
      metadata: { name: "broken", namespace: "inv" },
      spec: { type: 9 },
    });
    informer.start();
    await informer.synced;
    expect(informer.list()).toEqual([]);
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toContain("inv/broken: spec.type");

    kube.create({
      apiVersion: API_VERSION,
      kind: "AzureIdentity",
      metadata: { name: "broken-2", namespace: "inv" },
      spec: { type: 5 },
    });
    await until("watch reports the second malformed identity", () => invalid.length === 2);
    const broken = kube.get(API_VERSION, "AzureIdentity", "inv", "broken");
    kube.update({ ...broken, spec: { ...broken?.spec, type: 1 } });
    await until("fixed identity is added", () => added.includes("broken"));
    expect(informer.list().map((i) => i.metadata.name)).toEqual(["broken"]);
  });

  test("survives dropped watches, re-lists after 410 Gone, and restarts after API-server errors", async () => {
    const events: string[] = [];
    const errors: number[] = [];
    const chaosLists = () =>
      kube
        .requests()
        .filter((r) => r.path.split("?")[0] === "/api/v1/namespaces/chaos/pods" && !r.path.includes("watch=true"));
    kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "chaos" } });
    createPod("c-keep", "n1", "10.3.0.1", "Running", "chaos");
    createPod("c-gone", "n1", "10.3.0.2", "Running", "chaos");
    // The first list fails: the informer must retry on its own, not stop.
    kube.failNext({ method: "GET", pathIncludes: "/namespaces/chaos/pods" }, 500);
    const informer = track(
      podInformer(client, {
        namespace: "chaos",
        backoff: { initialMs: 300, maxMs: 600 },
        onError: (e) => errors.push(e.code),
      }),
    );
    informer.on("add", (p) => events.push(`add ${p.metadata.name}`));
    informer.on("update", (p) => events.push(`update ${p.metadata.name}`));
    informer.on("delete", (p) => events.push(`delete ${p.metadata.name}`));
    informer.start();
    await informer.synced;
    expect(errors).toEqual([500]);
    expect(events.sort()).toEqual(["add c-gone", "add c-keep"]);

    // 1. The server closes every watch: the informer re-watches from where it was.
    kube.dropWatches();
    createPod("c-after-drop", "n1", "10.3.0.3", "Running", "chaos");
    await until(
      "change after a dropped watch",
      () => informer.get("chaos", "c-after-drop")?.status.podIP === "10.3.0.3",
    );

    // 2. History compacted while disconnected: the re-watch gets 410 and the informer re-lists.
    const listsBefore = chaosLists().length;
    const eventsBefore = events.length;
    kube.failNext({ method: "GET", pathIncludes: "/namespaces/chaos/pods?" }, 503);
    kube.dropWatches();
    kube.remove("v1", "Pod", "chaos", "c-gone");
    createPod("c-after-410", "n1", "10.3.0.4", "Running", "chaos");
    kube.compactHistory();
    await until("re-list after 410 sees the new pod", () => events.includes("add c-after-410"));
    await until("re-list after 410 sees the deletion", () => events.includes("delete c-gone"));
    expect(chaosLists().length).toBeGreaterThan(listsBefore);
    // The deletion happened while disconnected and its history is gone: only a re-list can show it.
    // The re-list delivered no update for objects whose resourceVersion did not change.
    expect(events.slice(eventsBefore).filter((e) => e === "update c-keep" || e === "update c-after-drop")).toEqual([]);

    // 3. The API server fails the next watches: the informer backs off and comes back.
    const errorsBefore = errors.length;
    kube.failNext({ method: "GET", pathIncludes: "/namespaces/chaos/pods?" }, 500, 2);
    kube.dropWatches();
    await until("two failed attempts reported", () => errors.length >= errorsBefore + 2);
    const pod = kube.get("v1", "Pod", "chaos", "c-keep");
    kube.updateStatus({ ...pod, status: { ...pod?.status, podIP: "10.3.0.99" } });
    await until("change after recovery", () => events.includes("update c-keep"));
    expect(informer.get("chaos", "c-keep")?.status.podIP).toBe("10.3.0.99");
    expect(
      informer
        .list()
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(["c-after-410", "c-after-drop", "c-keep"]);
  });

  test("stop() ends the watch at once and resolves; synced rejects when stopped before syncing", async () => {
    const informer = podInformer(client, { namespace: "default" });
    informer.start();
    await informer.synced;
    const openBefore = kube.requests().length;
    await informer.stop();
    createPod("after-stop", "n1", "10.4.0.1");
    await Bun.sleep(100);
    expect(informer.get("default", "after-stop")).toBeUndefined();
    expect(
      kube
        .requests()
        .slice(openBefore)
        .some((r) => r.path.includes("watch=true")),
    ).toBe(false);

    kube.failNext({ method: "GET", pathIncludes: "/api/v1/nodes" }, 500, 100);
    const never = nodeInformer(client, { backoff: { initialMs: 20, maxMs: 50 } });
    never.start();
    const stopped = never.stop();
    await expect(never.synced).rejects.toThrow(/stopped before it synced/);
    await stopped;
    kube.failNext({ method: "GET", pathIncludes: "/api/v1/nodes" }, 200, 0);
  });
});

describe("events", () => {
  test("identical events within the window become one Event with a growing count; others stay separate", async () => {
    const recorder = new EventRecorder({ client, component: "aadpodidentity.k8s.io", host: "mic-1" });
    const binding = {
      apiVersion: API_VERSION,
      kind: "AzureIdentityBinding",
      name: "b1",
      namespace: "default",
      uid: "u-1",
    };
    await recorder.record(binding, "Normal", "binding applied", "Binding b1 applied on node n1 for pod p1");
    await recorder.record(binding, "Normal", "binding applied", "Binding b1 applied on node n1 for pod p1");
    recorder.event(binding, "Normal", "binding applied", "Binding b1 applied on node n1 for pod p1");
    recorder.event(binding, "Warning", "binding apply error", "failed");
    await recorder.flush();
    const forBinding = kube.list("v1", "Event", "default").filter((e) => e.involvedObject?.name === "b1");
    expect(forBinding).toHaveLength(2);
    const applied = forBinding.find((e) => e.reason === "binding applied");
    expect(applied).toMatchObject({
      type: "Normal",
      count: 3,
      source: { component: "aadpodidentity.k8s.io", host: "mic-1" },
      involvedObject: { kind: "AzureIdentityBinding", name: "b1", namespace: "default", uid: "u-1" },
    });
    expect(applied?.metadata.name).toMatch(/^b1\.[0-9a-f]+$/);
    expect(Date.parse(applied?.lastTimestamp)).toBeGreaterThanOrEqual(Date.parse(applied?.firstTimestamp));
    expect(forBinding.find((e) => e.reason === "binding apply error")).toMatchObject({ type: "Warning", count: 1 });
  });

  test("recording never throws: API failures are logged, and a deleted Event starts a new series", async () => {
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (_: object, m: string) => warnings.push(m) };
    const recorder = new EventRecorder({ client, component: "test", logger });
    const obj = { kind: "Pod", name: "ev-pod", namespace: "default" };
    kube.failNext({ method: "POST", pathIncludes: "/events" }, 500);
    await recorder.record(obj, "Warning", "r", "m");
    expect(warnings).toEqual(["could not record event"]);

    await recorder.record(obj, "Warning", "r", "m");
    const first = kube.list("v1", "Event", "default").find((e) => e.involvedObject?.name === "ev-pod");
    kube.remove("v1", "Event", "default", first?.metadata.name);
    await recorder.record(obj, "Warning", "r", "m");
    const now = kube.list("v1", "Event", "default").filter((e) => e.involvedObject?.name === "ev-pod");
    expect(now).toHaveLength(1);
    expect(now[0]?.count).toBe(1);
  });
});
