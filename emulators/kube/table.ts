// meta.k8s.io/v1 Table responses, which kubectl asks for (`Accept: application/json;as=Table;...`)
// to print `kubectl get`: Name, the type's printer columns, Age.
import type { KubeObject } from "./cluster.ts";
import type { PrinterColumn, ResourceType } from "./resources.ts";

export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 192) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

/** Evaluates the simple `.a.b.c` JSONPaths printer columns use. */
function pathValue(obj: unknown, jsonPath: string): unknown {
  let cur = obj;
  for (const part of jsonPath
    .replace(/^\{?\./, "")
    .replace(/\}$/, "")
    .split(".")) {
    if (part === "") continue;
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const POD_COLUMNS: PrinterColumn[] = [
  { name: "Status", type: "string", jsonPath: ".status.phase" },
  { name: "IP", type: "string", jsonPath: ".status.podIP", priority: 1 },
  { name: "Node", type: "string", jsonPath: ".spec.nodeName", priority: 1 },
];

function columnsFor(type: ResourceType, version: string): PrinterColumn[] {
  if (type.group === "" && type.plural === "pods") return POD_COLUMNS;
  return (type.printerColumns[version] ?? []).filter((c) => c.jsonPath !== ".metadata.creationTimestamp");
}

function cell(obj: KubeObject, c: PrinterColumn): unknown {
  const value = pathValue(obj, c.jsonPath);
  if (value === undefined || value === null) return c.type === "string" ? "" : null;
  if (c.type === "date" && typeof value === "string") return humanDuration(Date.now() - Date.parse(value));
  if (c.type === "string" && typeof value !== "string")
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  return value;
}

export function toTable(
  type: ResourceType,
  version: string,
  objects: KubeObject[],
  listMeta: object,
  includeObject: string,
) {
  const columns = columnsFor(type, version);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: [
      {
        name: "Name",
        type: "string",
        format: "name",
        description: "Name must be unique within a namespace.",
        priority: 0,
      },
      ...columns.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? "",
        description: c.description ?? "",
        priority: c.priority ?? 0,
      })),
      { name: "Age", type: "string", format: "", description: "CreationTimestamp of the object.", priority: 0 },
    ],
    rows: objects.map((o) => ({
      cells: [
        o.metadata.name,
        ...columns.map((c) => cell(o, c)),
        humanDuration(Date.now() - Date.parse(o.metadata.creationTimestamp ?? new Date().toISOString())),
      ],
      object:
        includeObject === "None"
          ? undefined
          : includeObject === "Object"
            ? o
            : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}
