// Schemas for the core objects the roles cache (pods, nodes): only the fields pod-identity reads are
// checked; everything else passes through untouched (loose objects). Objects from the API server are
// untrusted input like any other.
import * as v from "valibot";
import type { ParseResult } from "./crds.ts";

const MetaSchema = v.looseObject({
  name: v.pipe(v.string(), v.minLength(1, "metadata.name must not be empty")),
  namespace: v.optional(v.string(), ""),
  uid: v.optional(v.string()),
  resourceVersion: v.optional(v.string()),
  labels: v.optional(v.nullable(v.record(v.string(), v.string()))),
  annotations: v.optional(v.nullable(v.record(v.string(), v.string()))),
  ownerReferences: v.optional(
    v.nullable(
      v.array(
        v.looseObject({
          apiVersion: v.optional(v.string(), ""),
          kind: v.optional(v.string(), ""),
          name: v.optional(v.string(), ""),
          uid: v.optional(v.string(), ""),
          controller: v.optional(v.nullable(v.boolean())),
        }),
      ),
    ),
  ),
  deletionTimestamp: v.optional(v.nullable(v.string())),
});

export const PodSchema = v.looseObject({
  apiVersion: v.optional(v.string(), "v1"),
  kind: v.optional(v.string(), "Pod"),
  metadata: MetaSchema,
  spec: v.optional(
    v.looseObject({
      nodeName: v.optional(v.string(), ""),
      hostNetwork: v.optional(v.nullable(v.boolean())),
    }),
    {},
  ),
  status: v.optional(
    v.looseObject({
      phase: v.optional(v.string(), ""),
      podIP: v.optional(v.string(), ""),
      podIPs: v.optional(v.nullable(v.array(v.looseObject({ ip: v.optional(v.string(), "") })))),
      hostIP: v.optional(v.string(), ""),
    }),
    {},
  ),
});
export type Pod = v.InferOutput<typeof PodSchema>;

export const NodeSchema = v.looseObject({
  apiVersion: v.optional(v.string(), "v1"),
  kind: v.optional(v.string(), "Node"),
  metadata: MetaSchema,
  spec: v.optional(v.looseObject({ providerID: v.optional(v.string(), "") }), {}),
  status: v.optional(v.unknown()),
});
export type Node = v.InferOutput<typeof NodeSchema>;

/** Turns a valibot schema into the `parse` function informers take. */
export function parserFor<S extends v.GenericSchema>(schema: S): (raw: unknown) => ParseResult<v.InferOutput<S>> {
  return (raw) => {
    const result = v.safeParse(schema, raw);
    if (result.success) return { ok: true, value: result.output };
    return {
      ok: false,
      problems: result.issues.map((issue) => {
        const path = v.getDotPath(issue);
        return path ? `${path}: ${issue.message}` : issue.message;
      }),
    };
  };
}

export const parsePod = parserFor(PodSchema);
export const parseNode = parserFor(NodeSchema);
