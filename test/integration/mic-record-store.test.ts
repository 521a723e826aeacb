// MIC's AzureAssignedIdentity writes (wiring/record-store.ts) against the kube emulator, through a
// recording proxy so the wire is checked: a status change is one JSON patch of /status/status sent as
// application/json-patch+json; a delete is DELETE, then a merge patch dropping MIC's finalizer; the
// emulator's own request log shows the same sequence and what it answered.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { KubeConfig } from "@kubernetes/client-node";
import { type KubeEmulator, startKubeEmulator } from "../../emulators/kube/index.ts";
import { loadChartCrds } from "../../emulators/world/chart-crds.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import { ASSIGNED_IDENTITY_FINALIZER } from "../../src/kube/crds.ts";
import { computeDesiredState } from "../../src/roles/mic/desired-state.ts";
import { buildRecord } from "../../src/roles/mic/plan.ts";
import type { RecordStorePort } from "../../src/roles/mic/ports.ts";
import type { MicMetrics } from "../../src/roles/mic/wiring/mic-metrics.ts";
import { recordStorePort } from "../../src/roles/mic/wiring/record-store.ts";

interface Sent {
  method: string;
  path: string;
  contentType: string | null;
  body: unknown;
}

let kube: KubeEmulator;
let proxy: ReturnType<typeof Bun.serve>;
let store: RecordStorePort;
const sent: Sent[] = [];
const observed: { operation: string; failed: boolean }[] = [];

const ITEMS = "/apis/aadpodidentity.k8s.io/v1/namespaces/default/azureassignedidentities";

function record(pod: string) {
  const [desired] = computeDesiredState({
    pods: [{ namespace: "default", name: pod, nodeName: "node-0", phase: "Running", labels: { aadpodidbinding: "s" } }],
    bindings: [{ metadata: { namespace: "default", name: "b" }, spec: { azureIdentity: "id", selector: "s" } }],
    identities: [
      {
        metadata: { namespace: "default", name: "id" },
        spec: {
          type: 0,
          resourceID:
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id",
          clientID: "00000000-0000-0000-0000-000000000001",
        },
      },
    ],
    forceNamespaced: false,
  }).assignments;
  if (!desired) throw new Error("fixture must give one assignment");
  return buildRecord(desired, "Created", false);
}

/** Requests to the emulator since `from`, without the query string. */
const logSince = (from: number) =>
  kube
    .requests()
    .slice(from)
    .map((r) => ({ method: r.method, path: r.path.split("?")[0], status: r.status }));

beforeAll(async () => {
  kube = await startKubeEmulator();
  for (const crd of loadChartCrds()) kube.create(crd);
  // Records every request as sent on the wire, then hands it to the emulator unchanged.
  proxy = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const text = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
      sent.push({
        method: request.method,
        path: url.pathname,
        contentType: request.headers.get("content-type"),
        body: text ? JSON.parse(text) : undefined,
      });
      const headers = new Headers(request.headers);
      headers.delete("host");
      return fetch(`${kube.url}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        ...(text ? { body: text } : {}),
      });
    },
  });
  const kc = new KubeConfig();
  kc.loadFromString(kube.kubeconfigYaml.replace(kube.url, `http://127.0.0.1:${proxy.port}`));
  const metrics = {
    observeKube: (operation: string, _seconds: number, failed: boolean) => observed.push({ operation, failed }),
  } as unknown as MicMetrics;
  store = recordStorePort({
    client: createKubeClient(kc, { userAgent: "record-store-test" }),
    signal: new AbortController().signal,
    metrics,
  });
});

afterAll(async () => {
  await proxy?.stop(true);
  await kube?.stop();
});

describe("record store against the kube emulator", () => {
  test("a status change is a JSON patch of /status/status, sent as application/json-patch+json", async () => {
    const created = await store.create(record("status-pod"));
    expect(created.metadata.finalizers).toEqual([ASSIGNED_IDENTITY_FINALIZER]);
    const name = created.metadata.name;
    const from = kube.requests().length;
    sent.length = 0;

    const patched = await store.patchStatus("default", name, "Assigned");

    expect(sent).toEqual([
      {
        method: "PATCH",
        path: `${ITEMS}/${name}`,
        contentType: "application/json-patch+json",
        body: [{ op: "replace", path: "/status/status", value: "Assigned" }],
      },
    ]);
    expect(logSince(from)).toEqual([{ method: "PATCH", path: `${ITEMS}/${name}`, status: 200 }]);
    expect(patched.status?.status).toBe("Assigned");
    expect(patched.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
    expect(kube.get("aadpodidentity.k8s.io/v1", "AzureAssignedIdentity", "default", name)?.status).toMatchObject({
      status: "Assigned",
    });
    expect(observed.at(-1)).toEqual({ operation: "update_azure_assigned_identity_status", failed: false });
  });

  test("a delete is DELETE, then a merge patch removing MIC's finalizer; the object is gone", async () => {
    const created = await store.create(record("delete-pod"));
    const name = created.metadata.name;
    await store.patchStatus("default", name, "Unassigned");
    const from = kube.requests().length;
    sent.length = 0;

    await store.delete("default", name);

    expect(sent.map((s) => [s.method, s.path, s.contentType])).toEqual([
      ["DELETE", `${ITEMS}/${name}`, null],
      ["PATCH", `${ITEMS}/${name}`, "application/merge-patch+json"],
    ]);
    expect(sent[1]?.body).toEqual({ metadata: { finalizers: [] } });
    expect(logSince(from)).toEqual([
      { method: "DELETE", path: `${ITEMS}/${name}`, status: 200 },
      { method: "PATCH", path: `${ITEMS}/${name}`, status: 200 },
    ]);
    expect(kube.get("aadpodidentity.k8s.io/v1", "AzureAssignedIdentity", "default", name)).toBeUndefined();
    expect(observed.at(-1)).toEqual({ operation: "assigned_identity_deletion", failed: false });
  });

  test("deleting a record that is already gone is not an error and sends nothing more", async () => {
    const from = kube.requests().length;
    await store.delete("default", "never-existed");
    expect(logSince(from)).toEqual([{ method: "DELETE", path: `${ITEMS}/never-existed`, status: 404 }]);
  });

  test("a status patch of a missing record fails with the API server's 404", async () => {
    await expect(store.patchStatus("default", "never-existed", "Assigned")).rejects.toMatchObject({ code: 404 });
    expect(observed.at(-1)).toEqual({ operation: "update_azure_assigned_identity_status", failed: true });
  });
});
