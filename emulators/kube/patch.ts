// The three patch formats the API server accepts for updates: JSON merge patch (RFC 7386), JSON patch
// (RFC 6902) and Kubernetes strategic merge patch (for built-in types; lists merged by their merge key).
// Pure functions over JSON values.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export class PatchError extends Error {
  /** "decode": the patch itself is malformed (400); "apply": it does not apply to the object (422). */
  constructor(
    readonly stage: "decode" | "apply",
    message: string,
  ) {
    super(message);
  }
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: JsonObject = isObject(target) ? { ...(target as JsonObject) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value) as Json;
  }
  return result;
}

// ---- RFC 6902 ----

function decodePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new PatchError("apply", `invalid JSON pointer: "${pointer}"`);
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function parentOf(doc: Json, tokens: string[], pointer: string): { parent: Json; last: string } {
  let cur: Json = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)] as Json;
    else if (isObject(cur)) cur = cur[t] as Json;
    else cur = undefined as unknown as Json;
    if (cur === undefined) throw new PatchError("apply", `doc is missing path: "${pointer}": missing value`);
  }
  return { parent: cur, last: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, pointer: string): Json {
  let cur: Json | undefined = doc;
  for (const t of decodePointer(pointer)) {
    if (Array.isArray(cur)) cur = /^\d+$/.test(t) ? cur[Number(t)] : undefined;
    else if (isObject(cur)) cur = Object.hasOwn(cur, t) ? cur[t] : undefined;
    else cur = undefined;
    if (cur === undefined) throw new PatchError("apply", `doc is missing path: "${pointer}": missing value`);
  }
  return cur as Json;
}

function arrayIndex(arr: Json[], token: string, forInsert: boolean, pointer: string): number {
  if (forInsert && token === "-") return arr.length;
  if (!/^\d+$/.test(token)) throw new PatchError("apply", `invalid array index "${token}" in "${pointer}"`);
  const i = Number(token);
  if (i > arr.length || (!forInsert && i === arr.length))
    throw new PatchError("apply", `index out of bounds: ${pointer}`);
  return i;
}

function addAt(doc: Json, pointer: string, value: Json): Json {
  const tokens = decodePointer(pointer);
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true, pointer), 0, value);
  else if (isObject(parent)) parent[last] = value;
  else throw new PatchError("apply", `doc is missing path: "${pointer}": missing value`);
  return doc;
}

function removeAt(doc: Json, pointer: string): Json {
  const tokens = decodePointer(pointer);
  const { parent, last } = parentOf(doc, tokens, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false, pointer), 1);
  else if (isObject(parent) && Object.hasOwn(parent, last)) delete parent[last];
  else throw new PatchError("apply", `Unable to remove nonexistent key: ${last}: missing value`);
  return doc;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObject(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical(v[k])]),
    );
  return v;
}

export function jsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations))
    throw new PatchError("decode", "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  let doc = structuredClone(target) as Json;
  for (const op of operations) {
    if (!isObject(op) || typeof op.op !== "string" || typeof op.path !== "string")
      throw new PatchError("decode", `invalid JSON patch operation: ${JSON.stringify(op)}`);
    const path = op.path;
    switch (op.op) {
      case "add":
        if (!("value" in op)) throw new PatchError("apply", `add operation does not apply: doc is missing value`);
        doc = addAt(doc, path, structuredClone(op.value));
        break;
      case "remove":
        doc = removeAt(doc, path);
        break;
      case "replace":
        getAt(doc, path);
        doc = addAt(removeAt(doc, path), path, structuredClone(op.value as Json));
        break;
      case "move": {
        if (typeof op.from !== "string") throw new PatchError("decode", "move operation requires from");
        const value = getAt(doc, op.from);
        doc = addAt(removeAt(doc, op.from), path, value);
        break;
      }
      case "copy": {
        if (typeof op.from !== "string") throw new PatchError("decode", "copy operation requires from");
        doc = addAt(doc, path, structuredClone(getAt(doc, op.from)));
        break;
      }
      case "test": {
        let actual: Json | undefined;
        try {
          actual = getAt(doc, path);
        } catch {
          actual = undefined;
        }
        if (!deepEqual(actual, op.value)) throw new PatchError("apply", `testing value ${path} failed: test failed`);
        break;
      }
      default:
        throw new PatchError("decode", `Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}

// ---- strategic merge patch ----

/** Merge keys of the lists in built-in types that kubectl touches (from the types' patchMergeKey tags). */
const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  volumes: "name",
  env: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  ports: "containerPort",
  imagePullSecrets: "name",
  hostAliases: "ip",
  conditions: "type",
  ownerReferences: "uid",
  secrets: "name",
  addresses: "type",
  taints: "key",
  podIPs: "ip",
  hostIPs: "ip",
};
/** Primitive lists with patchStrategy merge: a patch adds to them instead of replacing them. */
const MERGED_PRIMITIVE_LISTS = new Set(["finalizers"]);

function mergeList(field: string, original: Json[], patch: Json[]): Json[] {
  const key = MERGE_KEYS[field];
  if (MERGED_PRIMITIVE_LISTS.has(field)) {
    const out = [...original];
    for (const v of patch) if (!out.some((o) => deepEqual(o, v))) out.push(v);
    return out;
  }
  if (!key) return structuredClone(patch);
  const out = structuredClone(original);
  for (const item of patch) {
    if (!isObject(item)) return structuredClone(patch);
    const directive = item.$patch;
    if (directive === "replace") return structuredClone(patch.filter((p) => !(isObject(p) && p.$patch === "replace")));
    const idx = out.findIndex((o) => isObject(o) && deepEqual(o[key], item[key]));
    if (directive === "delete") {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], item) as Json;
    else out.push(strategicMergePatch({}, item) as Json);
  }
  return out;
}

export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch;
    return structuredClone(rest);
  }
  if (patch.$patch === "delete") return undefined;
  const result: JsonObject = isObject(target) ? { ...(target as JsonObject) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch" || key === "$retainKeys" || key.startsWith("$setElementOrder/")) continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const current = result[field];
      if (Array.isArray(current) && Array.isArray(value))
        result[field] = current.filter((v) => !value.some((d) => deepEqual(d, v)));
      continue;
    }
    if (value === null) delete result[key];
    else if (Array.isArray(value) && Array.isArray(result[key]))
      result[key] = mergeList(key, result[key] as Json[], value);
    else if (isObject(value)) {
      const merged = strategicMergePatch(result[key], value);
      if (merged === undefined) delete result[key];
      else result[key] = merged as Json;
    } else result[key] = structuredClone(value);
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String));
    for (const k of Object.keys(result)) if (!keep.has(k)) delete result[k];
  }
  return result;
}

export { deepEqual };
