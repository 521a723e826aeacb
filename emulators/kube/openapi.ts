// A minimal OpenAPI v3 surface: the /openapi/v3 index and one document per group-version listing each
// resource's PATCH operation with its `fieldValidation` query parameter. That is what kubectl reads to
// decide that the server validates fields itself (its --validate=strict default); no schemas are served.
import { createHash } from "node:crypto";
import type { ResourceType } from "./resources.ts";

function gvPath(group: string, version: string): string {
  return group === "" ? `api/${version}` : `apis/${group}/${version}`;
}

export function openApiGroupVersions(types: ResourceType[]): Map<string, ResourceType[]> {
  const out = new Map<string, ResourceType[]>();
  for (const t of types)
    for (const ver of t.versions) out.set(gvPath(t.group, ver), [...(out.get(gvPath(t.group, ver)) ?? []), t]);
  return out;
}

export function openApiDocument(gv: string, types: ResourceType[]) {
  const version = gv.split("/").at(-1)!;
  const paths: Record<string, object> = {};
  for (const t of types) {
    const base = t.namespaced ? `/${gv}/namespaces/{namespace}/${t.plural}` : `/${gv}/${t.plural}`;
    const gvk = { group: t.group, version, kind: t.kind };
    const param = (name: string) => ({ name, in: "query", schema: { type: "string", uniqueItems: true } });
    paths[`${base}/{name}`] = {
      patch: {
        operationId: `patch${t.kind}`,
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": gvk,
        parameters: [param("dryRun"), param("fieldManager"), param("fieldValidation"), param("force")],
        responses: { "200": { description: "OK" } },
      },
      put: {
        operationId: `replace${t.kind}`,
        "x-kubernetes-action": "put",
        "x-kubernetes-group-version-kind": gvk,
        parameters: [param("dryRun"), param("fieldManager"), param("fieldValidation")],
        responses: { "200": { description: "OK" } },
      },
    };
    paths[base] = {
      post: {
        operationId: `create${t.kind}`,
        "x-kubernetes-action": "post",
        "x-kubernetes-group-version-kind": gvk,
        parameters: [param("dryRun"), param("fieldManager"), param("fieldValidation")],
        responses: { "201": { description: "Created" } },
      },
    };
  }
  return { openapi: "3.0.0", info: { title: "Kubernetes", version: "v1.34.0" }, paths, components: { schemas: {} } };
}

export function openApiIndex(types: ResourceType[]) {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [gv, ts] of openApiGroupVersions(types)) {
    const hash = createHash("sha512")
      .update(JSON.stringify(openApiDocument(gv, ts)))
      .digest("hex")
      .slice(0, 128)
      .toUpperCase();
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` };
  }
  return { paths };
}
