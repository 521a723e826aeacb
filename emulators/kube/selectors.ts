// Label and field selectors as the API server parses and matches them (k8s.io/apimachinery/pkg/labels,
// pkg/fields). Pure functions; parse errors throw SelectorError, which the server turns into 400.

export class SelectorError extends Error {}

export type LabelOperator = "=" | "!=" | "in" | "notin" | "exists" | "!exists" | "gt" | "lt";
export interface LabelRequirement {
  key: string;
  op: LabelOperator;
  values: string[];
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

function checkKey(key: string): string {
  if (!LABEL_KEY.test(key)) throw new SelectorError(`unable to parse requirement: invalid label key "${key}"`);
  return key;
}

function checkValue(value: string): string {
  if (!LABEL_VALUE.test(value)) throw new SelectorError(`unable to parse requirement: invalid label value: "${value}"`);
  return value;
}

function parseRequirement(text: string): LabelRequirement {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(text);
  if (set) {
    const values = set[3]!.split(",").map((v) => checkValue(v.trim()));
    return { key: checkKey(set[1]!), op: set[2] as "in" | "notin", values };
  }
  if (text.startsWith("!")) return { key: checkKey(text.slice(1).trim()), op: "!exists", values: [] };
  const binary = /^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$/.exec(text);
  if (binary) {
    const [, key, op, value] = binary as unknown as [string, string, string, string];
    if (op === ">" || op === "<") {
      if (!/^-?\d+$/.test(value.trim()))
        throw new SelectorError(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
      return { key: checkKey(key), op: op === ">" ? "gt" : "lt", values: [value.trim()] };
    }
    return { key: checkKey(key), op: op === "!=" ? "!=" : "=", values: [checkValue(value.trim())] };
  }
  if (/^\S+$/.test(text)) return { key: checkKey(text), op: "exists", values: [] };
  throw new SelectorError(`unable to parse requirement: "${text}"`);
}

export function parseLabelSelector(selector: string): LabelRequirement[] {
  return splitTopLevel(selector).map(parseRequirement);
}

export function matchesLabels(requirements: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const set = labels ?? {};
  return requirements.every((r) => {
    const has = Object.hasOwn(set, r.key);
    const value = set[r.key];
    switch (r.op) {
      case "=":
        return has && value === r.values[0];
      case "!=":
        return !has || value !== r.values[0];
      case "in":
        return has && r.values.includes(value!);
      case "notin":
        return !has || !r.values.includes(value!);
      case "exists":
        return has;
      case "!exists":
        return !has;
      case "gt":
      case "lt": {
        if (!has || !/^-?\d+$/.test(value!)) return false;
        const n = Number(value);
        const bound = Number(r.values[0]);
        return r.op === "gt" ? n > bound : n < bound;
      }
      default:
        return false;
    }
  });
}

export interface FieldRequirement {
  field: string;
  op: "=" | "!=";
  value: string;
}

export function parseFieldSelector(selector: string): FieldRequirement[] {
  return selector
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "")
    .map((term) => {
      const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(term);
      if (!m) throw new SelectorError(`invalid selector: '${selector}'; can't understand '${term}'`);
      return { field: m[1]!.trim(), op: m[2] === "!=" ? "!=" : "=", value: m[3]!.trim() };
    });
}

/** The string a field selector compares against: missing fields are "", booleans "true"/"false". */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return "";
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return "";
  if (Array.isArray(cur))
    return cur
      .map((v) => (typeof v === "object" && v !== null ? String((v as { ip?: unknown }).ip ?? "") : String(v)))
      .join(",");
  return String(cur);
}

export function matchesFields(requirements: FieldRequirement[], obj: unknown): boolean {
  return requirements.every((r) => {
    const actual = fieldValue(obj, r.field);
    // status.podIPs holds a list; the real server matches if any entry equals the value.
    const values = r.field === "status.podIPs" ? actual.split(",") : [actual];
    return r.op === "=" ? values.includes(r.value) : !values.includes(r.value);
  });
}
