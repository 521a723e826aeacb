// Structural-schema handling for custom resources as apiextensions-apiserver does it: defaulting,
// pruning of unknown fields (unless x-kubernetes-preserve-unknown-fields), then validation of types,
// required fields and enums. Formats, patterns, CEL rules and numeric/length bounds are not checked.
import * as v from "valibot";

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  nullable?: boolean;
  default?: unknown;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: a recursive JSON schema shape
const SchemaShape: v.GenericSchema<Schema> = v.looseObject({}) as any;

type Problem = { field: string; message: string; reason?: string };

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function typeName(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "array";
  if (typeof x === "number") return Number.isInteger(x) ? "integer" : "number";
  return typeof x;
}

function show(x: unknown): string {
  return typeof x === "string" ? `"${x}"` : JSON.stringify(x);
}

function typeOk(schema: Schema, value: unknown): boolean {
  if (schema["x-kubernetes-int-or-string"])
    return typeof value === "string" || (typeof value === "number" && Number.isInteger(value));
  switch (schema.type) {
    case undefined:
      return true;
    case "object":
      return isObject(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number";
    case "boolean":
      return typeof value === "boolean";
    default:
      return true;
  }
}

function walk(
  schema: Schema,
  value: unknown,
  path: string,
  problems: Problem[],
  root: boolean,
  pruned: string[],
): void {
  if (value === null) {
    if (!schema.nullable && schema.type !== undefined && !root)
      problems.push({
        field: path,
        message: `Invalid value: "null": ${path} in body must be of type ${schema.type}: "null"`,
        reason: "FieldValueTypeInvalid",
      });
    return;
  }
  if (!typeOk(schema, value)) {
    problems.push({
      field: path,
      message: `Invalid value: "${typeName(value)}": ${path} in body must be of type ${schema.type}: ${show(typeName(value))}`,
      reason: "FieldValueTypeInvalid",
    });
    return;
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    problems.push({
      field: path,
      message: `Unsupported value: ${show(value)}: supported values: ${schema.enum.map(show).join(", ")}`,
      reason: "FieldValueNotSupported",
    });
  if (Array.isArray(value) && schema.items)
    for (const [i, item] of value.entries()) walk(schema.items, item, `${path}[${i}]`, problems, false, pruned);
  if (!isObject(value)) return;
  const props = schema.properties ?? {};
  // As kube-apiserver since 1.20 (PruneNonNullableNullsWithoutDefaults): a null in a field that is not
  // nullable takes the field's default, or is dropped when there is none, instead of failing validation.
  for (const [k, sub] of Object.entries(props))
    if (value[k] === null && !sub.nullable) {
      if (sub.default !== undefined) value[k] = structuredClone(sub.default);
      else delete value[k];
    }
  for (const [k, sub] of Object.entries(props))
    if (value[k] === undefined && sub.default !== undefined) value[k] = structuredClone(sub.default);
  const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true;
  const embedded = schema["x-kubernetes-embedded-resource"] === true || root;
  for (const k of Object.keys(value)) {
    const child = `${path ? `${path}.` : ""}${k}`;
    if (embedded && (k === "apiVersion" || k === "kind" || k === "metadata")) continue;
    const sub = props[k] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
    if (sub) walk(sub, value[k], child, problems, false, pruned);
    else if (
      !preserve &&
      schema.additionalProperties !== true &&
      (schema.properties !== undefined || schema.type === "object")
    ) {
      delete value[k];
      pruned.push(child);
    }
  }
  for (const r of schema.required ?? [])
    if (value[r] === undefined)
      problems.push({
        field: `${path ? `${path}.` : ""}${r}`,
        message: "Required value",
        reason: "FieldValueRequired",
      });
}

/** Defaults and prunes `obj` in place; returns the validation problems and the pruned field paths. */
export function validateAndPrune(
  schema: unknown,
  obj: Record<string, unknown>,
): { problems: Problem[]; pruned: string[] } {
  const parsed = v.safeParse(SchemaShape, schema);
  if (!parsed.success) return { problems: [], pruned: [] };
  const problems: Problem[] = [];
  const pruned: string[] = [];
  walk(parsed.output, obj, "", problems, true, pruned);
  return { problems, pruned };
}
