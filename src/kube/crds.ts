// The four custom resources of aadpodidentity.k8s.io/v1, exactly as aad-pod-identity v1.8.17 declares
// them, with valibot schemas: objects from the API server are untrusted input, so a malformed one
// yields a list of problems (for an event and a log line), never an exception.
import * as v from "valibot";

export const GROUP = "aadpodidentity.k8s.io";
export const VERSION = "v1";
export const API_VERSION = `${GROUP}/${VERSION}`;

export const PLURALS = {
  AzureIdentity: "azureidentities",
  AzureIdentityBinding: "azureidentitybindings",
  AzureAssignedIdentity: "azureassignedidentities",
  AzurePodIdentityException: "azurepodidentityexceptions",
} as const;
export type CrdKind = keyof typeof PLURALS;

/** Pod label that opts a pod in; its value is matched against binding selectors. */
export const BINDING_LABEL = "aadpodidbinding";
/** Annotation on an AzureIdentity that makes that identity namespaced. Value must be exactly "namespaced". */
export const BEHAVIOR_ANNOTATION = "aadpodidentity.k8s.io/Behavior";
export const BEHAVIOR_NAMESPACED = "namespaced";
export const ASSIGNED_IDENTITY_FINALIZER = "azureassignedidentity.finalizers.aadpodidentity.k8s.io";
/** Label on AzureAssignedIdentity that NMI filters its watch by. */
export const NODENAME_LABEL = "nodename";

export const IdentityType = { UserAssignedMSI: 0, ServicePrincipal: 1, ServicePrincipalCertificate: 2 } as const;
export type IdentityType = (typeof IdentityType)[keyof typeof IdentityType];

export const AssignedState = {
  Legacy: "",
  Created: "Created",
  Assigned: "Assigned",
  Unassigned: "Unassigned",
} as const;
export type AssignedState = (typeof AssignedState)[keyof typeof AssignedState];

/** Case-insensitive ARM ID of a user-assigned identity, as MIC validates type-0 resourceIDs. */
export const USER_ASSIGNED_ID_PATTERN =
  /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/]+$/i;

const ObjectMetaSchema = v.looseObject({
  name: v.pipe(v.string(), v.minLength(1, "metadata.name must not be empty")),
  namespace: v.optional(v.string(), ""),
  uid: v.optional(v.string()),
  resourceVersion: v.optional(v.string()),
  generation: v.optional(v.number()),
  creationTimestamp: v.optional(v.string()),
  deletionTimestamp: v.optional(v.nullable(v.string())),
  labels: v.optional(v.nullable(v.record(v.string(), v.string()))),
  annotations: v.optional(v.nullable(v.record(v.string(), v.string()))),
  finalizers: v.optional(v.nullable(v.array(v.string()))),
});
export type ObjectMeta = v.InferOutput<typeof ObjectMetaSchema>;

const SecretReferenceSchema = v.looseObject({
  name: v.optional(v.string(), ""),
  namespace: v.optional(v.string(), ""),
});

const IdentityTypeSchema = v.pipe(
  v.union([v.number(), v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number))]),
  v.picklist([0, 1, 2], "spec.type must be 0 (user-assigned MSI), 1 (service principal) or 2 (SP certificate)"),
);

export const AzureIdentitySpecSchema = v.looseObject({
  type: v.optional(IdentityTypeSchema, 0),
  resourceID: v.optional(v.string(), ""),
  clientID: v.optional(v.string(), ""),
  clientPassword: v.optional(v.nullable(SecretReferenceSchema)),
  tenantID: v.optional(v.string(), ""),
  auxiliaryTenantIDs: v.optional(v.nullable(v.array(v.string()))),
  adEndpoint: v.optional(v.string(), ""),
  adResourceID: v.optional(v.string(), ""),
  replicas: v.optional(v.nullable(v.number())),
  metadata: v.optional(v.unknown()),
});

export const AzureIdentitySchema = v.looseObject({
  apiVersion: v.optional(v.string(), API_VERSION),
  kind: v.optional(v.string(), "AzureIdentity"),
  metadata: ObjectMetaSchema,
  spec: v.optional(AzureIdentitySpecSchema, {}),
  status: v.optional(v.unknown()),
});
export type AzureIdentity = v.InferOutput<typeof AzureIdentitySchema>;

export const AzureIdentityBindingSchema = v.looseObject({
  apiVersion: v.optional(v.string(), API_VERSION),
  kind: v.optional(v.string(), "AzureIdentityBinding"),
  metadata: ObjectMetaSchema,
  spec: v.optional(
    v.looseObject({
      azureIdentity: v.optional(v.string(), ""),
      selector: v.optional(v.string(), ""),
      weight: v.optional(v.nullable(v.number())),
    }),
    {},
  ),
  status: v.optional(v.unknown()),
});
export type AzureIdentityBinding = v.InferOutput<typeof AzureIdentityBindingSchema>;

const AssignedStateSchema = v.picklist(
  ["", "Created", "Assigned", "Unassigned"],
  "status.status must be Created, Assigned or Unassigned",
);

export const AzureAssignedIdentitySchema = v.looseObject({
  apiVersion: v.optional(v.string(), API_VERSION),
  kind: v.optional(v.string(), "AzureAssignedIdentity"),
  metadata: ObjectMetaSchema,
  spec: v.looseObject({
    azureIdentityRef: v.optional(v.nullable(AzureIdentitySchema)),
    azureBindingRef: v.optional(v.nullable(AzureIdentityBindingSchema)),
    pod: v.optional(v.string(), ""),
    podNamespace: v.optional(v.string(), ""),
    nodename: v.optional(v.string(), ""),
    replicas: v.optional(v.nullable(v.number())),
    metadata: v.optional(v.unknown()),
  }),
  status: v.optional(
    v.looseObject({
      status: v.optional(AssignedStateSchema, ""),
      availableReplicas: v.optional(v.number()),
    }),
    { status: "" },
  ),
});
export type AzureAssignedIdentity = v.InferOutput<typeof AzureAssignedIdentitySchema>;

export const AzurePodIdentityExceptionSchema = v.looseObject({
  apiVersion: v.optional(v.string(), API_VERSION),
  kind: v.optional(v.string(), "AzurePodIdentityException"),
  metadata: ObjectMetaSchema,
  spec: v.optional(v.looseObject({ podLabels: v.optional(v.nullable(v.record(v.string(), v.string()))) }), {}),
  status: v.optional(v.unknown()),
});
export type AzurePodIdentityException = v.InferOutput<typeof AzurePodIdentityExceptionSchema>;

const SCHEMAS = {
  AzureIdentity: AzureIdentitySchema,
  AzureIdentityBinding: AzureIdentityBindingSchema,
  AzureAssignedIdentity: AzureAssignedIdentitySchema,
  AzurePodIdentityException: AzurePodIdentityExceptionSchema,
} as const;

export type CrdObject<K extends CrdKind> = v.InferOutput<(typeof SCHEMAS)[K]>;
export type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Parses an untrusted object of `kind`; problems name the field path (e.g. "spec.type: ..."). */
export function parseCrd<K extends CrdKind>(kind: K, raw: unknown): ParseResult<CrdObject<K>> {
  const result = v.safeParse(SCHEMAS[kind], raw);
  if (result.success) return { ok: true, value: result.output as CrdObject<K> };
  return {
    ok: false,
    problems: result.issues.map((issue) => {
      const path = v.getDotPath(issue);
      return path ? `${path}: ${issue.message}` : issue.message;
    }),
  };
}

/** Problems that make an identity unusable beyond its shape (MIC skips such identities with a Warning event). */
export function identityProblems(identity: AzureIdentity): string[] {
  const problems: string[] = [];
  const spec = identity.spec;
  if (spec.type === IdentityType.UserAssignedMSI) {
    if (!USER_ASSIGNED_ID_PATTERN.test(spec.resourceID)) {
      problems.push(
        `spec.resourceID: "${spec.resourceID}" is not a user-assigned identity ID (/subscriptions/<id>/resourcegroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)`,
      );
    }
  } else {
    if (!spec.tenantID) problems.push("spec.tenantID: required for a service principal identity");
    if (!spec.clientPassword?.name)
      problems.push("spec.clientPassword.name: required for a service principal identity");
  }
  if (!spec.clientID) problems.push("spec.clientID: required");
  return problems;
}

/** True when the identity opts into namespaced matching through its annotation. */
export function isNamespacedIdentity(identity: AzureIdentity): boolean {
  return identity.metadata.annotations?.[BEHAVIOR_ANNOTATION] === BEHAVIOR_NAMESPACED;
}
