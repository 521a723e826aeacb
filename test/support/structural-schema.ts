// A small checker for Kubernetes CRD openAPIV3Schema: whether a schema is structural (the rules
// apiextensions.k8s.io/v1 enforces before accepting a CRD) and whether an object validates against
// it with strict field validation (unknown fields are errors, as `kubectl apply` reports them).
// Only the keywords the project's CRDs use are interpreted; any other keyword is reported.

export interface SchemaNode {
  type?: string;
  description?: string;
  format?: string;
  nullable?: boolean;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
}

const KNOWN_KEYWORDS = new Set([
  "type",
  "description",
  "format",
  "nullable",
  "properties",
  "additionalProperties",
  "items",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-int-or-string",
]);
const TYPES = new Set(["object", "array", "string", "integer", "number", "boolean"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reasons the schema is not structural; empty when it is. */
export function structuralProblems(schema: unknown, path = ""): string[] {
  const at = path || "<root>";
  if (!isRecord(schema)) return [`${at}: schema must be an object`];
  const problems: string[] = [];
  for (const key of Object.keys(schema)) {
    if (!KNOWN_KEYWORDS.has(key)) problems.push(`${at}: keyword "${key}" is not supported here`);
  }
  const node = schema as SchemaNode;
  const preserve = node["x-kubernetes-preserve-unknown-fields"] === true;
  const intOrString = node["x-kubernetes-int-or-string"] === true;
  if (node.type === undefined) {
    if (!preserve && !intOrString) problems.push(`${at}: type is required (structural schema)`);
  } else if (!TYPES.has(node.type)) {
    problems.push(`${at}: unknown type "${node.type}"`);
  }
  if (node.properties !== undefined && node.additionalProperties !== undefined) {
    problems.push(`${at}: properties and additionalProperties are mutually exclusive`);
  }
  if (node.type === "array" && node.items === undefined) problems.push(`${at}: an array needs items`);
  if ((node.properties !== undefined || node.additionalProperties !== undefined) && node.type !== "object") {
    problems.push(`${at}: properties need type object`);
  }
  if (node["x-kubernetes-embedded-resource"] === true && node.type !== "object") {
    problems.push(`${at}: an embedded resource must be type object`);
  }
  if (path === "" && node.type !== "object") problems.push("<root>: the root must be type object");
  if (path === "" && node.properties?.metadata !== undefined) {
    const meta = node.properties.metadata as Record<string, unknown>;
    const extra = Object.keys(meta).filter((key) => key !== "type" && key !== "description");
    if (meta.type !== "object" || extra.length > 0) problems.push("<root>.metadata: may only be {type: object}");
  }
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    problems.push(...structuralProblems(child, `${path}.${name}`));
  }
  if (isRecord(node.additionalProperties)) {
    problems.push(...structuralProblems(node.additionalProperties, `${path}.*`));
  }
  if (node.items !== undefined) problems.push(...structuralProblems(node.items, `${path}[]`));
  return problems;
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

function typeProblem(node: SchemaNode, value: unknown, at: string): string | undefined {
  switch (node.type) {
    case "object":
      return isRecord(value) ? undefined : `${at}: expected object`;
    case "array":
      return Array.isArray(value) ? undefined : `${at}: expected array`;
    case "string":
      return typeof value === "string" ? undefined : `${at}: expected string`;
    case "boolean":
      return typeof value === "boolean" ? undefined : `${at}: expected boolean`;
    case "number":
      return typeof value === "number" ? undefined : `${at}: expected number`;
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value)) return `${at}: expected integer`;
      if (node.format === "int32" && (value < INT32.min || value > INT32.max)) return `${at}: out of int32 range`;
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Problems of `value` against `schema`; empty when valid. ObjectMeta (a bare `metadata: {type: object}`
 * at the root or in an embedded resource) is left to the API server's own metadata validation.
 */
export function validateAgainst(schema: SchemaNode, value: unknown, path = ""): string[] {
  const at = path || "<root>";
  if (value === null) return schema.nullable ? [] : [`${at}: must not be null`];
  if (schema["x-kubernetes-int-or-string"]) {
    return typeof value === "string" || Number.isInteger(value) ? [] : [`${at}: expected integer or string`];
  }
  const wrongType = typeProblem(schema, value, at);
  if (wrongType) return [wrongType];
  const problems: string[] = [];
  if (isRecord(value)) {
    if (schema["x-kubernetes-embedded-resource"]) {
      for (const key of ["apiVersion", "kind"]) {
        if (typeof value[key] !== "string" || value[key] === "") problems.push(`${at}.${key}: required`);
      }
    }
    const properties = schema.properties ?? {};
    for (const [key, child] of Object.entries(value)) {
      const childSchema = properties[key];
      if (childSchema !== undefined) {
        problems.push(...validateAgainst(childSchema, child, `${path}.${key}`));
      } else if (isRecord(schema.additionalProperties)) {
        problems.push(...validateAgainst(schema.additionalProperties, child, `${path}.${key}`));
      } else if (schema.properties !== undefined && !schema["x-kubernetes-preserve-unknown-fields"]) {
        problems.push(`${path}.${key}: unknown field`);
      }
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, index) => {
      problems.push(...validateAgainst(schema.items as SchemaNode, item, `${path}[${index}]`));
    });
  }
  return problems;
}
