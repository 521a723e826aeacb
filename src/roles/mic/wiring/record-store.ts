// RecordStorePort over the API server: AzureAssignedIdentity create (POST), update (PUT), status
// (JSON patch of /status/status; the CRD has no status subresource) and delete (DELETE, then drop
// the finalizer). Raw requests so the leadership signal cancels writes in flight, and so nothing is
// written once leadership has ended. Every response is parsed, never cast.
import type { KubeClient } from "../../../kube/client.ts";
import {
  API_VERSION,
  ASSIGNED_IDENTITY_FINALIZER,
  type AssignedState,
  type AzureAssignedIdentity,
  parseCrd,
} from "../../../kube/crds.ts";
import { isNotFound, KubeApiError } from "../../../kube/errors.ts";
import { crdPath } from "../../../kube/informers.ts";
import type { RecordStorePort } from "../ports.ts";
import { statusPatch } from "../state-machine.ts";
import type { KubeOperation, MicMetrics } from "./mic-metrics.ts";

export interface RecordStoreOptions {
  client: KubeClient;
  signal: AbortSignal;
  metrics: MicMetrics;
}

function parsed(raw: unknown, what: string): AzureAssignedIdentity {
  const result = parseCrd("AzureAssignedIdentity", raw);
  if (!result.ok) throw new KubeApiError(0, undefined, `${what}: malformed response: ${result.problems.join("; ")}`);
  return result.value;
}

const itemPath = (namespace: string, name: string) =>
  `${crdPath("AzureAssignedIdentity", namespace)}/${encodeURIComponent(name)}`;

export function recordStorePort(options: RecordStoreOptions): RecordStorePort {
  const { client, signal, metrics } = options;

  async function timed<T>(operation: KubeOperation, run: () => Promise<T>): Promise<T> {
    if (signal.aborted) throw new KubeApiError(0, undefined, "no longer the leader: write not sent");
    const started = performance.now();
    try {
      const value = await run();
      metrics.observeKube(operation, (performance.now() - started) / 1000, false);
      return value;
    } catch (error) {
      metrics.observeKube(operation, (performance.now() - started) / 1000, true);
      throw error;
    }
  }

  const body = (record: AzureAssignedIdentity) => ({
    ...record,
    apiVersion: API_VERSION,
    kind: "AzureAssignedIdentity",
  });

  return {
    create: (record) =>
      timed("assigned_identity_addition", async () => {
        const what = `create AzureAssignedIdentity ${record.metadata.namespace}/${record.metadata.name}`;
        const raw = await client.requestJson("POST", crdPath("AzureAssignedIdentity", record.metadata.namespace), {
          body: body(record),
          signal,
        });
        return parsed(raw, what);
      }),
    update: (record) =>
      timed("assigned_identity_update", async () => {
        const { namespace, name } = record.metadata;
        const raw = await client.requestJson("PUT", itemPath(namespace, name), { body: body(record), signal });
        return parsed(raw, `update AzureAssignedIdentity ${namespace}/${name}`);
      }),
    patchStatus: (namespace, name, status: AssignedState) =>
      timed("update_azure_assigned_identity_status", async () => {
        const raw = await client.requestJson("PATCH", itemPath(namespace, name), {
          body: statusPatch(status),
          contentType: "application/json-patch+json",
          signal,
        });
        return parsed(raw, `patch AzureAssignedIdentity ${namespace}/${name}`);
      }),
    delete: (namespace, name) =>
      timed("assigned_identity_deletion", async () => {
        let remaining: unknown;
        try {
          remaining = await client.requestJson("DELETE", itemPath(namespace, name), { signal });
        } catch (error) {
          if (isNotFound(error)) return;
          throw error;
        }
        // With our finalizer the object only gets a deletionTimestamp; dropping the finalizer ends it.
        const meta = (remaining as { kind?: unknown; metadata?: { finalizers?: unknown } } | null) ?? {};
        const finalizers = meta.kind === "Status" ? undefined : meta.metadata?.finalizers;
        if (!Array.isArray(finalizers) || !finalizers.includes(ASSIGNED_IDENTITY_FINALIZER)) return;
        try {
          await client.requestJson("PATCH", itemPath(namespace, name), {
            body: { metadata: { finalizers: finalizers.filter((f) => f !== ASSIGNED_IDENTITY_FINALIZER) } },
            contentType: "application/merge-patch+json",
            signal,
          });
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }),
  };
}
