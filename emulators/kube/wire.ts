// valibot schemas for what clients send: object envelopes, DeleteOptions and CRD specs. The emulator
// parses every request body with these instead of trusting its shape.
import * as v from "valibot";

const StringMap = v.record(v.string(), v.string());

export const ObjectMetaSchema = v.looseObject({
  name: v.optional(v.string()),
  generateName: v.optional(v.string()),
  namespace: v.optional(v.string()),
  uid: v.optional(v.string()),
  resourceVersion: v.optional(v.string()),
  labels: v.optional(v.nullable(StringMap)),
  annotations: v.optional(v.nullable(StringMap)),
  finalizers: v.optional(v.nullable(v.array(v.string()))),
});

export const KubeObjectSchema = v.looseObject({
  apiVersion: v.optional(v.string()),
  kind: v.optional(v.string()),
  metadata: v.optional(ObjectMetaSchema),
});
export type WireObject = v.InferOutput<typeof KubeObjectSchema>;

export const DeleteOptionsSchema = v.looseObject({
  gracePeriodSeconds: v.optional(v.nullable(v.number())),
  propagationPolicy: v.optional(v.nullable(v.picklist(["Orphan", "Background", "Foreground"]))),
  orphanDependents: v.optional(v.nullable(v.boolean())),
  preconditions: v.optional(
    v.nullable(
      v.looseObject({ uid: v.optional(v.nullable(v.string())), resourceVersion: v.optional(v.nullable(v.string())) }),
    ),
  ),
  dryRun: v.optional(v.nullable(v.array(v.string()))),
});
export type DeleteOptions = v.InferOutput<typeof DeleteOptionsSchema>;

const PrinterColumnSchema = v.looseObject({
  name: v.string(),
  type: v.string(),
  jsonPath: v.string(),
  description: v.optional(v.string()),
  priority: v.optional(v.number()),
  format: v.optional(v.string()),
});

export const CrdSpecSchema = v.looseObject({
  group: v.pipe(v.string(), v.minLength(1)),
  scope: v.picklist(["Namespaced", "Cluster"]),
  names: v.looseObject({
    plural: v.pipe(v.string(), v.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)),
    singular: v.optional(v.string()),
    kind: v.pipe(v.string(), v.minLength(1)),
    listKind: v.optional(v.string()),
    shortNames: v.optional(v.array(v.string())),
    categories: v.optional(v.array(v.string())),
  }),
  versions: v.pipe(
    v.array(
      v.looseObject({
        name: v.string(),
        served: v.boolean(),
        storage: v.boolean(),
        schema: v.optional(v.looseObject({ openAPIV3Schema: v.optional(v.unknown()) })),
        subresources: v.optional(v.looseObject({ status: v.optional(v.unknown()), scale: v.optional(v.unknown()) })),
        additionalPrinterColumns: v.optional(v.array(PrinterColumnSchema)),
      }),
    ),
    v.minLength(1),
  ),
});
export type CrdSpec = v.InferOutput<typeof CrdSpecSchema>;

export function issuesText(issues: v.BaseIssue<unknown>[]): Array<{ field: string; message: string }> {
  return issues.map((i) => ({ field: v.getDotPath(i) ?? "", message: i.message }));
}
