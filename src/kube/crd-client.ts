// Typed access to the four aadpodidentity.k8s.io/v1 kinds through client-node's CustomObjectsApi.
// Every object read back is parsed with `parseCrd`: a malformed one comes back as problems (for an
// event and a log line), never as an exception and never as a half-typed object.
// These CRDs have no status subresource, so status changes are JSON patches of the main resource
// (e.g. `replace /status/status`), exactly as the original MIC does.
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { KubeClient, ListOptions } from "./client.ts";
import {
  API_VERSION,
  type CrdKind,
  type CrdObject,
  GROUP,
  type ParseResult,
  PLURALS,
  parseCrd,
  VERSION,
} from "./crds.ts";
import { kubeCall } from "./errors.ts";

/** RFC 6902 operation. */
export type JsonPatchOperation =
  | { op: "add" | "replace" | "test"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; from: string; path: string };

/** What may be written: any object with a name; apiVersion and kind are filled in. */
export type CrdBody = {
  metadata: { name: string; namespace?: string; resourceVersion?: string } & Record<string, unknown>;
} & Record<string, unknown>;

export interface InvalidObject {
  namespace: string;
  name: string;
  problems: string[];
}

export interface CrdList<K extends CrdKind> {
  items: CrdObject<K>[];
  /** Objects the server returned that do not match the schema; left out of `items`. */
  invalid: InvalidObject[];
  resourceVersion: string;
}

export interface CrdClient {
  /** Lists one namespace, or all namespaces when `namespace` is undefined. */
  list<K extends CrdKind>(kind: K, namespace?: string, options?: ListOptions): Promise<CrdList<K>>;
  /** Throws KubeApiError (404 when absent); a malformed object is `{ ok: false, problems }`. */
  get<K extends CrdKind>(kind: K, namespace: string, name: string): Promise<ParseResult<CrdObject<K>>>;
  create<K extends CrdKind>(kind: K, body: CrdBody): Promise<ParseResult<CrdObject<K>>>;
  /** PUT; carries metadata.resourceVersion, so a stale object fails with 409. */
  update<K extends CrdKind>(kind: K, body: CrdBody): Promise<ParseResult<CrdObject<K>>>;
  delete(kind: CrdKind, namespace: string, name: string): Promise<void>;
  jsonPatch<K extends CrdKind>(
    kind: K,
    namespace: string,
    name: string,
    operations: JsonPatchOperation[],
  ): Promise<ParseResult<CrdObject<K>>>;
}

const jsonPatchContentType = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

function objectKey(raw: unknown): { namespace: string; name: string } {
  const meta =
    typeof raw === "object" && raw !== null
      ? (raw as { metadata?: { namespace?: unknown; name?: unknown } }).metadata
      : undefined;
  return {
    namespace: typeof meta?.namespace === "string" ? meta.namespace : "",
    name: typeof meta?.name === "string" ? meta.name : "",
  };
}

/** Splits a raw list response into valid objects and problems. */
export function parseCrdList<K extends CrdKind>(kind: K, raw: unknown): CrdList<K> {
  const list = typeof raw === "object" && raw !== null ? (raw as { items?: unknown; metadata?: unknown }) : {};
  const rawItems = Array.isArray(list.items) ? list.items : [];
  const items: CrdObject<K>[] = [];
  const invalid: InvalidObject[] = [];
  for (const item of rawItems) {
    const parsed = parseCrd(kind, item);
    if (parsed.ok) items.push(parsed.value);
    else invalid.push({ ...objectKey(item), problems: parsed.problems });
  }
  const meta =
    typeof list.metadata === "object" && list.metadata !== null ? (list.metadata as { resourceVersion?: unknown }) : {};
  return { items, invalid, resourceVersion: typeof meta.resourceVersion === "string" ? meta.resourceVersion : "" };
}

export function createCrdClient(client: KubeClient): CrdClient {
  const api = client.customObjectsApi;
  const where = (kind: CrdKind) => ({ group: GROUP, version: VERSION, plural: PLURALS[kind] });
  const withType = (kind: CrdKind, body: CrdBody) => ({ ...body, apiVersion: API_VERSION, kind });
  const namespaceOf = (body: CrdBody) => body.metadata.namespace || "default";

  return {
    async list(kind, namespace, options = {}) {
      const raw: unknown = await kubeCall(`list ${PLURALS[kind]}${namespace ? ` in ${namespace}` : ""}`, () =>
        namespace === undefined
          ? api.listClusterCustomObject({ ...where(kind), ...options })
          : api.listNamespacedCustomObject({ ...where(kind), namespace, ...options }),
      );
      return parseCrdList(kind, raw);
    },
    async get(kind, namespace, name) {
      const raw: unknown = await kubeCall(`get ${kind} ${namespace}/${name}`, () =>
        api.getNamespacedCustomObject({ ...where(kind), namespace, name }),
      );
      return parseCrd(kind, raw);
    },
    async create(kind, body) {
      const namespace = namespaceOf(body);
      const raw: unknown = await kubeCall(`create ${kind} ${namespace}/${body.metadata.name}`, () =>
        api.createNamespacedCustomObject({ ...where(kind), namespace, body: withType(kind, body) }),
      );
      return parseCrd(kind, raw);
    },
    async update(kind, body) {
      const namespace = namespaceOf(body);
      const name = body.metadata.name;
      const raw: unknown = await kubeCall(`update ${kind} ${namespace}/${name}`, () =>
        api.replaceNamespacedCustomObject({ ...where(kind), namespace, name, body: withType(kind, body) }),
      );
      return parseCrd(kind, raw);
    },
    async delete(kind, namespace, name) {
      await kubeCall(`delete ${kind} ${namespace}/${name}`, () =>
        api.deleteNamespacedCustomObject({ ...where(kind), namespace, name }),
      );
    },
    async jsonPatch(kind, namespace, name, operations) {
      const raw: unknown = await kubeCall(`patch ${kind} ${namespace}/${name}`, () =>
        api.patchNamespacedCustomObject({ ...where(kind), namespace, name, body: operations }, jsonPatchContentType),
      );
      return parseCrd(kind, raw);
    },
  };
}
