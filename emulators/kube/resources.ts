// The resource types the emulator serves: a fixed set of built-ins plus one entry per served version
// of every established CustomResourceDefinition. Discovery, routing and storage all read this table.

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ResourceType {
  group: string;
  /** Served versions; objects are stored once per group+plural whatever version they came in. */
  versions: string[];
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  statusSubresource: boolean;
  /** Field selector labels beyond metadata.name / metadata.namespace. */
  fieldLabels: string[];
  /** PUT without metadata.resourceVersion is allowed (false for custom resources and leases). */
  allowUnconditionalUpdate: boolean;
  /** PUT to a missing object creates it. */
  allowCreateOnUpdate: boolean;
  /** metadata.generation is kept and bumped on spec changes. */
  tracksGeneration: boolean;
  /** Strategic merge patch is accepted (built-in types only). */
  strategicMerge: boolean;
  /** openAPIV3Schema per version (custom resources). */
  schemas: Record<string, unknown>;
  printerColumns: Record<string, PrinterColumn[]>;
}

export function groupResource(t: { group: string; plural: string }): string {
  return `${t.group}/${t.plural}`;
}

export function apiVersionOf(group: string, version: string): string {
  return group === "" ? version : `${group}/${version}`;
}

function builtin(
  p: Partial<ResourceType> & Pick<ResourceType, "group" | "plural" | "singular" | "kind" | "namespaced">,
): ResourceType {
  return {
    versions: ["v1"],
    shortNames: [],
    categories: [],
    statusSubresource: false,
    fieldLabels: [],
    allowUnconditionalUpdate: true,
    allowCreateOnUpdate: false,
    tracksGeneration: false,
    strategicMerge: true,
    schemas: {},
    printerColumns: {},
    ...p,
  };
}

export const BUILTIN_TYPES: ResourceType[] = [
  builtin({
    group: "",
    plural: "pods",
    singular: "pod",
    kind: "Pod",
    namespaced: true,
    shortNames: ["po"],
    categories: ["all"],
    statusSubresource: true,
    tracksGeneration: true,
    fieldLabels: [
      "spec.nodeName",
      "spec.restartPolicy",
      "spec.schedulerName",
      "spec.serviceAccountName",
      "spec.hostNetwork",
      "status.phase",
      "status.podIP",
      "status.podIPs",
      "status.nominatedNodeName",
    ],
  }),
  builtin({
    group: "",
    plural: "nodes",
    singular: "node",
    kind: "Node",
    namespaced: false,
    shortNames: ["no"],
    statusSubresource: true,
    allowCreateOnUpdate: false,
    fieldLabels: ["spec.unschedulable"],
  }),
  builtin({
    group: "",
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
    shortNames: ["ns"],
    statusSubresource: true,
    fieldLabels: ["status.phase"],
  }),
  builtin({
    group: "",
    plural: "secrets",
    singular: "secret",
    kind: "Secret",
    namespaced: true,
    fieldLabels: ["type"],
  }),
  builtin({
    group: "",
    plural: "configmaps",
    singular: "configmap",
    kind: "ConfigMap",
    namespaced: true,
    shortNames: ["cm"],
  }),
  builtin({
    group: "",
    plural: "events",
    singular: "event",
    kind: "Event",
    namespaced: true,
    shortNames: ["ev"],
    allowCreateOnUpdate: true,
    fieldLabels: [
      "involvedObject.kind",
      "involvedObject.namespace",
      "involvedObject.name",
      "involvedObject.uid",
      "involvedObject.apiVersion",
      "involvedObject.resourceVersion",
      "involvedObject.fieldPath",
      "reason",
      "reportingComponent",
      "source",
      "type",
    ],
  }),
  builtin({
    group: "",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    kind: "ServiceAccount",
    namespaced: true,
    shortNames: ["sa"],
  }),
  builtin({
    group: "coordination.k8s.io",
    plural: "leases",
    singular: "lease",
    kind: "Lease",
    namespaced: true,
    allowUnconditionalUpdate: false,
    allowCreateOnUpdate: true,
  }),
  // Stored, not run: NMI reads its own DaemonSet to tell an uninstall (gone or being deleted) from a restart.
  builtin({
    group: "apps",
    plural: "daemonsets",
    singular: "daemonset",
    kind: "DaemonSet",
    namespaced: true,
    shortNames: ["ds"],
    statusSubresource: true,
    tracksGeneration: true,
  }),
  builtin({
    group: "apiextensions.k8s.io",
    plural: "customresourcedefinitions",
    singular: "customresourcedefinition",
    kind: "CustomResourceDefinition",
    namespaced: false,
    shortNames: ["crd", "crds"],
    statusSubresource: true,
    tracksGeneration: true,
    allowUnconditionalUpdate: false,
  }),
];

type CrdVersion = {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: unknown };
  subresources?: { status?: unknown };
  additionalPrinterColumns?: PrinterColumn[];
};

/** The resource type a CRD object defines (the CRD has been validated already). */
export function typeFromCrd(crd: {
  spec: {
    group: string;
    scope: string;
    names: { plural: string; singular?: string; kind: string; shortNames?: string[]; categories?: string[] };
    versions: CrdVersion[];
  };
}): ResourceType {
  const { spec } = crd;
  const served = spec.versions.filter((v) => v.served !== false);
  // The status subresource is per version in apiextensions/v1; the emulator applies it per type
  // when any served version declares it (the aadpodidentity CRDs declare it on none).
  const status = served.some((v) => v.subresources?.status !== undefined);
  return {
    group: spec.group,
    versions: served.map((v) => v.name),
    plural: spec.names.plural,
    singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
    kind: spec.names.kind,
    namespaced: spec.scope === "Namespaced",
    shortNames: spec.names.shortNames ?? [],
    categories: spec.names.categories ?? [],
    statusSubresource: status,
    fieldLabels: [],
    allowUnconditionalUpdate: false,
    allowCreateOnUpdate: false,
    tracksGeneration: true,
    strategicMerge: false,
    schemas: Object.fromEntries(served.map((v) => [v.name, v.schema?.openAPIV3Schema])),
    printerColumns: Object.fromEntries(served.map((v) => [v.name, v.additionalPrinterColumns ?? []])),
  };
}
