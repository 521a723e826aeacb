// Plan (pure): for one VM / VMSS, what to write to the API server and what to add to or remove from
// the target's user-assigned identities, given the desired records, the current records, what ARM
// has now, and what MIC remembers (grace timers, identities in backoff).
//
// Rules (each one a property test in test/unit/mic-plan.test.ts):
// - An identity is removed only when no desired record on this target (every node of a scale set maps
//   to one target) still uses it, compared by client ID and by resource ID, case-insensitively.
// - Never removed: immutable client IDs (--immutable-user-msis, the cluster identity), identities
//   that were already on the target before MIC needed them ("user-owned", see below), and anything
//   no record of MIC refers to (extras found on the target are never touched).
// - A removal waits graceMs after the identity stopped being needed, so a pod replaced by a rollout
//   or the next run of a Job costs neither an unassign nor a reassign.
// - A record no longer desired is never left Assigned: it is deleted at once when its identity stays
//   on the target, otherwise it goes Unassigned at once (NMI stops serving it) and is kept, with its
//   finalizer, until the identity is removed from ARM (then deleted) or is needed again (then deleted).
//   An Unassigned record never makes an identity "needed", but it still says "MIC put this identity
//   here", so the removal happens later even after a MIC failover.
// - Applying a plan and planning again gives an empty plan.
//
// User-owned identities. When MIC writes a record for an identity that ARM already shows on the
// target and no other record or pending removal of MIC accounts for it there, the record gets the
// annotation PREEXISTING_ANNOTATION="true"; records written later for the same identity and target
// inherit the flag from the existing ones. Removal is refused while any record (or remembered
// pending removal) of that identity on the target carries it. The flag lives on the records, so it
// survives MIC restarts; records from aad-pod-identity carry none and count as MIC-owned, as they did.
// When the last record naming an identity MIC put there goes while another record that needs it is
// still waiting to be written, a pending entry (kept in memory) says "MIC-owned" until it is.
import {
  API_VERSION,
  ASSIGNED_IDENTITY_FINALIZER,
  AssignedState,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
  IdentityType,
  NODENAME_LABEL,
  USER_ASSIGNED_ID_PATTERN,
} from "../../kube/crds.ts";
import type { DesiredAssignment } from "./desired-state.ts";
import { isAssigned } from "./state-machine.ts";

export const PREEXISTING_ANNOTATION = "aadpodidentity.k8s.io/preexisting-on-target";

/** An identity removal MIC decided on but is holding back (grace period), keyed by lower-cased resource ID. */
export interface PendingRemoval {
  resourceId: string;
  clientId: string;
  /** When the identity stopped being needed on the target (epoch ms). */
  since: number;
  preexisting: boolean;
}

export interface TargetPlanInput {
  /** Desired records whose node belongs to this target. */
  desired: readonly DesiredAssignment[];
  /** Current records whose spec.nodename belongs to this target. */
  current: readonly AzureAssignedIdentity[];
  /** A record with this key is desired on another target (it is moving away). */
  desiredElsewhere: (key: string) => boolean;
  /** A record with this key exists on another target (wait until that target releases it). */
  existsElsewhere: (key: string) => boolean;
  /** Resource IDs of the user-assigned identities ARM shows on the target; undefined when not read. */
  arm: readonly string[] | undefined;
  pending: readonly PendingRemoval[];
  /** Resource IDs whose add is backing off after ARM refused them (any case). */
  blockedAdds: ReadonlySet<string>;
  /** Lower-cased client IDs. */
  immutableClientIds: ReadonlySet<string>;
  now: number;
  graceMs: number;
}

export type RecordWrite =
  | { kind: "create"; record: AzureAssignedIdentity; desired: DesiredAssignment }
  | { kind: "update"; record: AzureAssignedIdentity; desired: DesiredAssignment }
  | { kind: "status"; record: AzureAssignedIdentity; status: AssignedState; desired?: DesiredAssignment }
  | { kind: "delete"; record: AzureAssignedIdentity };

/** A write that runs after the ARM PATCH, only if the change it depends on went through. */
export interface ConditionalWrite {
  /** `resourceId` is lower-cased. */
  requires: { op: "add" | "remove"; resourceId: string };
  write: RecordWrite;
}

export interface TargetPlan {
  /** Writes that do not depend on ARM (run before the PATCH). */
  before: RecordWrite[];
  /** Resource IDs to add / remove, unique case-insensitively. */
  add: string[];
  remove: PendingRemoval[];
  after: ConditionalWrite[];
  /** Pending removals to remember, assuming `remove` succeeds. */
  pending: PendingRemoval[];
  /** Earliest time a held-back removal falls due. */
  wakeAt: number | undefined;
  /** Keys of desired records waiting for a backed-off identity or for another target to release them. */
  waiting: string[];
}

export function recordKey(record: AzureAssignedIdentity): string {
  return `${record.metadata.namespace}/${record.metadata.name}`;
}

const lower = (value: string) => value.toLowerCase();

/**
 * What a record says about its identity: type, client ID, and the resource ID as written ("" when
 * the record names no usable user-assigned identity).
 */
export function recordIdentity(record: AzureAssignedIdentity): { type: number; clientId: string; resourceId: string } {
  const spec = record.spec.azureIdentityRef?.spec;
  const type = spec?.type ?? IdentityType.UserAssignedMSI;
  const resourceId = spec?.resourceID ?? "";
  return {
    type,
    clientId: spec?.clientID ?? "",
    resourceId: type === IdentityType.UserAssignedMSI && USER_ASSIGNED_ID_PATTERN.test(resourceId) ? resourceId : "",
  };
}

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Whether a current record already says what the desired one says (status aside). */
export function recordMatches(record: AzureAssignedIdentity, desired: DesiredAssignment): boolean {
  const { spec } = record;
  const identityRef = spec.azureIdentityRef;
  const bindingRef = spec.azureBindingRef;
  return (
    spec.pod === desired.podName &&
    spec.podNamespace === desired.podNamespace &&
    spec.nodename === desired.nodeName &&
    record.metadata.labels?.[NODENAME_LABEL] === desired.nodeName &&
    identityRef?.metadata.name === desired.identity.metadata.name &&
    identityRef.metadata.namespace === desired.identity.metadata.namespace &&
    stable(identityRef.spec) === stable(desired.identity.spec) &&
    bindingRef?.metadata.name === desired.binding.metadata.name &&
    bindingRef.metadata.namespace === desired.binding.metadata.namespace &&
    stable(bindingRef.spec) === stable(desired.binding.spec)
  );
}

function snapshotIdentity(identity: AzureIdentity): AzureIdentity {
  const { name, namespace, uid, resourceVersion, labels, annotations } = identity.metadata;
  return {
    apiVersion: API_VERSION,
    kind: "AzureIdentity",
    metadata: { name, namespace, uid, resourceVersion, labels, annotations },
    spec: identity.spec,
  };
}

function snapshotBinding(binding: AzureIdentityBinding): AzureIdentityBinding {
  const { name, namespace, uid, resourceVersion, labels, annotations } = binding.metadata;
  return {
    apiVersion: API_VERSION,
    kind: "AzureIdentityBinding",
    metadata: { name, namespace, uid, resourceVersion, labels, annotations },
    spec: binding.spec,
  };
}

/** The record MIC writes for a desired assignment (finalizer, nodename label, embedded snapshots). */
export function buildRecord(
  desired: DesiredAssignment,
  status: AssignedState,
  preexisting: boolean,
  existing?: AzureAssignedIdentity,
): AzureAssignedIdentity {
  const annotations: Record<string, string> = { ...(existing?.metadata.annotations ?? {}) };
  delete annotations[PREEXISTING_ANNOTATION];
  if (preexisting) annotations[PREEXISTING_ANNOTATION] = "true";
  const finalizers = [...(existing?.metadata.finalizers ?? [])];
  if (!finalizers.includes(ASSIGNED_IDENTITY_FINALIZER)) finalizers.push(ASSIGNED_IDENTITY_FINALIZER);
  return {
    apiVersion: API_VERSION,
    kind: "AzureAssignedIdentity",
    metadata: {
      ...(existing?.metadata ?? {}),
      name: desired.name,
      namespace: desired.namespace,
      labels: { ...(existing?.metadata.labels ?? {}), [NODENAME_LABEL]: desired.nodeName },
      ...(Object.keys(annotations).length > 0 ? { annotations } : { annotations: undefined }),
      finalizers,
    },
    spec: {
      azureIdentityRef: snapshotIdentity(desired.identity),
      azureBindingRef: snapshotBinding(desired.binding),
      pod: desired.podName,
      podNamespace: desired.podNamespace,
      nodename: desired.nodeName,
    },
    status: { status, availableReplicas: 1 },
  };
}

export function isPreexisting(record: AzureAssignedIdentity): boolean {
  return record.metadata.annotations?.[PREEXISTING_ANNOTATION] === "true";
}

/** Of two spellings of one ID (ARM IDs are case-insensitive), the one that sorts first: order-independent. */
function firstSpelling(known: string | undefined, seen: string): string {
  return known === undefined || seen < known ? seen : known;
}

export function planTarget(input: TargetPlanInput): TargetPlan {
  const { now, graceMs } = input;
  const armKnown = input.arm !== undefined;
  const onArm = new Set((input.arm ?? []).map(lower));
  const immutable = input.immutableClientIds;

  // What this target still needs, by resource ID and by client ID.
  const neededIds = new Set<string>();
  const neededClients = new Set<string>();
  const desiredKeys = new Set<string>();
  for (const d of input.desired) {
    desiredKeys.add(d.key);
    if (d.identityType !== IdentityType.UserAssignedMSI) continue;
    neededIds.add(lower(d.resourceId));
    if (d.clientId) neededClients.add(lower(d.clientId));
  }
  const isNeeded = (resourceId: string, clientId: string) =>
    neededIds.has(resourceId) || (clientId !== "" && neededClients.has(lower(clientId)));

  // Ownership per identity on this target, from existing records and remembered removals.
  const flags = new Map<string, boolean[]>();
  const noteFlag = (resourceId: string, flag: boolean) => {
    if (!resourceId) return;
    const list = flags.get(resourceId);
    if (list) list.push(flag);
    else flags.set(resourceId, [flag]);
  };
  for (const record of input.current) noteFlag(lower(recordIdentity(record).resourceId), isPreexisting(record));
  for (const p of input.pending) noteFlag(lower(p.resourceId), p.preexisting);
  const ownedByUser = (resourceId: string): boolean => {
    const list = flags.get(resourceId);
    if (list) return list.includes(true);
    return onArm.has(resourceId);
  };

  const plan: TargetPlan = { before: [], add: [], remove: [], after: [], pending: [], wakeAt: undefined, waiting: [] };
  const adds = new Map<string, string>();
  const addIdentity = (resourceId: string) => {
    adds.set(lower(resourceId), firstSpelling(adds.get(lower(resourceId)), resourceId));
  };

  // Removal candidates: identity → (client ID, since, preexisting, records waiting on it).
  interface Candidate {
    resourceId: string;
    clientId: string;
    since: number;
    preexisting: boolean;
    records: AzureAssignedIdentity[];
  }
  // Keyed by lower-cased resource ID; `resourceId` keeps the spelling to send to ARM.
  const candidates = new Map<string, Candidate>();
  const pendingById = new Map(input.pending.map((p) => [lower(p.resourceId), p]));
  const candidate = (resourceId: string, clientId: string): Candidate => {
    const id = lower(resourceId);
    let c = candidates.get(id);
    if (c) {
      // Several records may spell one identity differently; which spelling wins must not depend on order.
      if (!pendingById.has(id)) c.resourceId = firstSpelling(c.resourceId, resourceId);
      if (clientId && !pendingById.get(id)?.clientId) c.clientId = firstSpelling(c.clientId || undefined, clientId);
    } else {
      const remembered = pendingById.get(id);
      c = {
        resourceId: remembered?.resourceId ?? resourceId,
        clientId: clientId || remembered?.clientId || "",
        since: remembered?.since ?? now,
        preexisting: ownedByUser(id),
        records: [],
      };
      candidates.set(id, c);
    }
    return c;
  };
  for (const p of input.pending) candidate(p.resourceId, p.clientId);
  const blockedAdds = new Set([...input.blockedAdds].map(lower));

  const currentByKey = new Map(input.current.map((r) => [recordKey(r), r]));
  // A record kept while its identity's removal is pending stops granting at once (NMI serves only Assigned).
  const unassign = (record: AzureAssignedIdentity) => {
    if (record.status?.status !== AssignedState.Unassigned)
      plan.before.push({ kind: "status", record, status: AssignedState.Unassigned });
  };

  for (const d of input.desired) {
    const existing = currentByKey.get(d.key);
    if (!existing && input.existsElsewhere(d.key)) {
      plan.waiting.push(d.key);
      continue;
    }
    if (d.identityType !== IdentityType.UserAssignedMSI) {
      // Service principals never touch ARM: the record is Assigned as soon as it is written.
      if (!existing)
        plan.before.push({ kind: "create", record: buildRecord(d, AssignedState.Assigned, false), desired: d });
      else if (!recordMatches(existing, d))
        plan.before.push({
          kind: "update",
          record: buildRecord(d, AssignedState.Assigned, false, existing),
          desired: d,
        });
      else if (!isAssigned(existing.status?.status))
        plan.before.push({ kind: "status", record: existing, status: AssignedState.Assigned, desired: d });
      continue;
    }
    if (!armKnown) continue;
    const id = lower(d.resourceId);
    const present = onArm.has(id);
    const blocked = !present && blockedAdds.has(id);
    if (blocked) plan.waiting.push(d.key);
    const status = present ? AssignedState.Assigned : AssignedState.Created;
    const confirmLater = (record: AzureAssignedIdentity) => {
      if (present || blocked) return;
      addIdentity(d.resourceId);
      plan.after.push({
        requires: { op: "add", resourceId: id },
        write: { kind: "status", record, status: AssignedState.Assigned, desired: d },
      });
    };
    if (!existing) {
      const record = buildRecord(d, status, ownedByUser(id));
      plan.before.push({ kind: "create", record, desired: d });
      confirmLater(record);
    } else if (!recordMatches(existing, d)) {
      const old = recordIdentity(existing);
      const sameIdentity = lower(old.resourceId) === id;
      const record = buildRecord(d, status, sameIdentity ? isPreexisting(existing) : ownedByUser(id), existing);
      plan.before.push({ kind: "update", record, desired: d });
      confirmLater(record);
      // The identity the record used to name may no longer be needed here.
      if (!sameIdentity && old.resourceId) candidate(old.resourceId, old.clientId);
    } else if (!isAssigned(existing.status?.status)) {
      if (present) plan.before.push({ kind: "status", record: existing, status: AssignedState.Assigned, desired: d });
      else confirmLater(existing);
    } else if (!present && !blocked) {
      // Drift: an Assigned record's identity is gone from the target; put it back (never remove extras).
      addIdentity(d.resourceId);
    }
  }

  // Records no longer desired on this target.
  for (const record of input.current) {
    const key = recordKey(record);
    if (desiredKeys.has(key)) continue;
    const { resourceId, clientId } = recordIdentity(record);
    if (!resourceId) {
      plan.before.push({ kind: "delete", record });
      continue;
    }
    if (!armKnown) {
      // Whether the identity stays cannot be told without ARM, but the record must stop granting now.
      unassign(record);
      continue;
    }
    const c = candidate(resourceId, clientId);
    if (input.desiredElsewhere(key)) {
      // Moving to another target: release the record now, keep the removal in memory.
      plan.before.push({ kind: "delete", record });
    } else {
      c.records.push(record);
    }
  }

  // Identities that some record on this target will still name once the writes above are done.
  const gone = new Set<string>();
  for (const w of plan.before) if (w.kind !== "status") gone.add(recordKey(w.record));
  for (const c of candidates.values()) for (const record of c.records) gone.add(recordKey(record));
  const stillRecorded = new Set<string>();
  for (const record of input.current)
    if (!gone.has(recordKey(record))) stillRecorded.add(lower(recordIdentity(record).resourceId));
  for (const w of plan.before)
    if (w.kind === "create" || w.kind === "update") stillRecorded.add(lower(recordIdentity(w.record).resourceId));

  // Decide every candidate removal.
  for (const [id, c] of candidates) {
    const needed = isNeeded(id, c.clientId);
    const immutableId = c.clientId !== "" && immutable.has(lower(c.clientId));
    const keep = needed || immutableId || c.preexisting || (armKnown && !onArm.has(id));
    if (keep) {
      // Nothing to take off ARM: the records can go now.
      for (const record of c.records) plan.before.push({ kind: "delete", record });
      // MIC put this identity here and a record that needs it is not written yet (it is waiting, e.g.
      // for a pod moving in from another target): once these records are gone nothing would say so,
      // and the identity would look user-owned and never be removed. Memory carries it until then.
      if (needed && !immutableId && !c.preexisting && armKnown && onArm.has(id) && !stillRecorded.has(id))
        plan.pending.push({ resourceId: c.resourceId, clientId: c.clientId, since: now, preexisting: false });
      continue;
    }
    if (!armKnown) continue;
    for (const record of c.records) unassign(record);
    const due = c.since + graceMs;
    if (now < due) {
      plan.pending.push({ resourceId: c.resourceId, clientId: c.clientId, since: c.since, preexisting: false });
      plan.wakeAt = plan.wakeAt === undefined ? due : Math.min(plan.wakeAt, due);
      continue;
    }
    plan.remove.push({ resourceId: c.resourceId, clientId: c.clientId, since: c.since, preexisting: false });
    for (const record of c.records)
      plan.after.push({ requires: { op: "remove", resourceId: id }, write: { kind: "delete", record } });
  }

  plan.add = [...adds.values()];
  return plan;
}
