// One run of one VM / VMSS: read what ARM has (one GET), plan, write records, PATCH the deltas (≤150
// per request, additions first, one after another, each awaiting its long-running operation and built
// from that read as the PATCHes before it left it), then confirm records. When ARM cannot be read, the
// writes that need no ARM still happen. Everything that decides is in plan.ts and retry-policy.ts;
// this file only sequences I/O.
import { API_VERSION, type AssignedState, type AzureAssignedIdentity, IdentityType } from "../../kube/crds.ts";
import type { Clock } from "./clock.ts";
import type { DesiredAssignment } from "./desired-state.ts";
import type { ArmTarget } from "./node-target.ts";
import { type PendingRemoval, planTarget, type RecordWrite, recordIdentity, recordKey } from "./plan.ts";
import {
  type ArmFailure,
  type ArmIdentityPort,
  armFailureOf,
  type EventPort,
  type LogPort,
  MAX_IDENTITIES_PER_PATCH,
  type ObjectReference,
  type RecordStorePort,
  type TargetIdentities,
} from "./ports.ts";
import { mapLimit } from "./rate-limiter.ts";
import {
  afterIdentityFailure,
  afterSuccess,
  afterThrottle,
  afterTransientFailure,
  type BackoffOptions,
  type IdentityBackoff,
  initialRetryState,
  mayCall,
  type TargetRetryState,
} from "./retry-policy.ts";
import {
  bindingAppliedMessage,
  bindingApplyErrorMessage,
  bindingRemovedMessage,
  bindingRemoveErrorMessage,
  EventReason,
  statusUpdateErrorMessage,
} from "./state-machine.ts";

export interface WorkerOptions {
  graceMs: number;
  createDeleteBatch: number;
  /** --update-user-msi-max-retry: PATCH retries after dropping identities ARM refused. */
  updateUserMsiMaxRetry: number;
  /** --update-user-msi-retry-interval. */
  updateUserMsiRetryIntervalMs: number;
  immutableClientIds: ReadonlySet<string>;
  /** 5xx / network errors of a target. */
  targetBackoff: BackoffOptions;
  /** Identities ARM refused. */
  identityBackoff: BackoffOptions;
}

export interface WorkerDeps {
  arm: ArmIdentityPort;
  records: RecordStorePort;
  events: EventPort;
  log: LogPort;
  clock: Clock;
  random: () => number;
  options: WorkerOptions;
}

/** What the controller knows about one target when a run starts. */
export interface TargetSnapshot {
  /** undefined: the node has no resolvable VM / VMSS; only service-principal records are handled. */
  target: ArmTarget | undefined;
  desired: readonly DesiredAssignment[];
  current: readonly AzureAssignedIdentity[];
  desiredElsewhere: (key: string) => boolean;
  existsElsewhere: (key: string) => boolean;
}

/** What MIC remembers about one target between runs (in memory; see plan.ts for what is persisted). */
export interface TargetMemory {
  retry: TargetRetryState;
  pending: PendingRemoval[];
  /** Lower-cased resource ID → backoff of an identity ARM refused. */
  refused: Map<string, IdentityBackoff>;
}

export function newTargetMemory(): TargetMemory {
  return { retry: initialRetryState(), pending: [], refused: new Map() };
}

export interface RunResult {
  retryAt?: number | undefined;
  /** Record keys this run deleted (another target may be waiting to write them). */
  released: string[];
  patches: number;
}

const lower = (value: string) => value.toLowerCase();

function bindingRef(desired: DesiredAssignment | undefined, record: AzureAssignedIdentity): ObjectReference {
  const meta = desired?.binding.metadata ?? record.spec.azureBindingRef?.metadata;
  return {
    apiVersion: API_VERSION,
    kind: "AzureIdentityBinding",
    namespace: meta?.namespace ?? "",
    name: meta?.name ?? "",
    uid: meta?.uid,
  };
}

function recordRef(record: AzureAssignedIdentity): ObjectReference {
  return {
    apiVersion: API_VERSION,
    kind: "AzureAssignedIdentity",
    namespace: record.metadata.namespace,
    name: record.metadata.name,
    uid: record.metadata.uid,
  };
}

function needsArm(snapshot: TargetSnapshot, memory: TargetMemory): boolean {
  if (!snapshot.target) return false;
  return (
    memory.pending.length > 0 ||
    snapshot.desired.some((d) => d.identityType === IdentityType.UserAssignedMSI) ||
    snapshot.current.some((r) => recordIdentity(r).resourceId !== "")
  );
}

interface DeltaResult {
  added: Set<string>;
  removed: Set<string>;
  refused: Map<string, { code: string; message: string }>;
  failure?: ArmFailure | undefined;
  patches: number;
}

/**
 * PATCHes the deltas in chunks, dropping identities ARM refuses and retrying the rest (§4.6). Each PATCH
 * is built against `read` (this run's GET) as updated by the PATCHes before it: one GET per run.
 */
async function applyDelta(
  deps: WorkerDeps,
  target: ArmTarget,
  read: TargetIdentities,
  add: string[],
  remove: string[],
): Promise<DeltaResult> {
  const result: DeltaResult = { added: new Set(), removed: new Set(), refused: new Map(), patches: 0 };
  // Additions first: no chunk in between leaves a UserAssigned target without user identities.
  const items = [
    ...add.map((id) => ({ id, op: "add" as const })),
    ...remove.map((id) => ({ id, op: "remove" as const })),
  ];
  let current = read;
  for (let start = 0; start < items.length; start += MAX_IDENTITIES_PER_PATCH) {
    let chunk = items.slice(start, start + MAX_IDENTITIES_PER_PATCH);
    for (let attempt = 0; chunk.length > 0; attempt++) {
      try {
        result.patches++;
        current = await deps.arm.updateIdentities(
          target,
          {
            add: chunk.filter((i) => i.op === "add").map((i) => i.id),
            remove: chunk.filter((i) => i.op === "remove").map((i) => i.id),
          },
          current,
        );
        for (const i of chunk) (i.op === "add" ? result.added : result.removed).add(lower(i.id));
        break;
      } catch (error) {
        const failure = armFailureOf(error);
        if (failure.kind !== "identity") {
          result.failure = failure;
          return result;
        }
        const named = new Set(failure.identityIds.map(lower));
        const refused = chunk.filter((i) => named.has(lower(i.id)));
        // When ARM names none of ours, it is unknown which failed: all of them are refused.
        for (const i of refused.length > 0 ? refused : chunk)
          result.refused.set(lower(i.id), { code: failure.code, message: failure.message });
        chunk = refused.length > 0 ? chunk.filter((i) => !named.has(lower(i.id))) : [];
        if (chunk.length > 0 && attempt >= deps.options.updateUserMsiMaxRetry) {
          result.failure = { kind: "other", message: `giving up after ${attempt} retries: ${failure.message}` };
          return result;
        }
        if (chunk.length > 0) await deps.clock.sleep(deps.options.updateUserMsiRetryIntervalMs);
      }
    }
  }
  return result;
}

/** Runs record writes with --createDeleteBatch parallelism; returns the keys whose write failed. */
async function runWrites(
  deps: WorkerDeps,
  writes: readonly RecordWrite[],
  nodeOf: (r: AzureAssignedIdentity) => string,
) {
  const failed = new Set<string>();
  const released: string[] = [];
  const results = await mapLimit(writes, deps.options.createDeleteBatch, async (write) => {
    const { record } = write;
    const { namespace, name } = record.metadata;
    switch (write.kind) {
      case "create":
        await deps.records.create(record);
        return;
      case "update":
        await deps.records.update(record);
        return;
      case "status":
        await deps.records.patchStatus(namespace, name, write.status);
        return;
      case "delete":
        await deps.records.delete(namespace, name);
        released.push(recordKey(record));
        return;
    }
  });
  results.forEach((result, index) => {
    const write = writes[index] as RecordWrite;
    const record = write.record;
    const desired = write.kind === "delete" ? undefined : write.desired;
    const status: AssignedState | undefined =
      write.kind === "status" ? write.status : write.kind === "delete" ? undefined : record.status?.status;
    if (result.status === "rejected") {
      failed.add(recordKey(record));
      const detail = result.reason instanceof Error ? result.reason.message : String(result.reason);
      deps.log.warn("AzureAssignedIdentity write failed", {
        kind: write.kind,
        record: recordKey(record),
        error: detail,
      });
      if (write.kind === "create" || write.kind === "update")
        deps.events.emit({
          type: "Warning",
          reason: EventReason.BindingApplyError,
          message: bindingApplyErrorMessage(
            bindingRef(desired, record).name,
            nodeOf(record),
            record.metadata.name,
            detail,
          ),
          object: bindingRef(desired, record),
        });
      else
        deps.events.emit({
          type: "Warning",
          reason: EventReason.StatusUpdateError,
          message: statusUpdateErrorMessage(record.metadata.name, status ?? "Unassigned", detail),
          object: recordRef(record),
        });
      return;
    }
    if (status === "Assigned")
      deps.events.emit({
        type: "Normal",
        reason: EventReason.BindingApplied,
        message: bindingAppliedMessage(bindingRef(desired, record).name, nodeOf(record), record.metadata.name),
        object: bindingRef(desired, record),
      });
  });
  return { failed, released };
}

/** One reconcile of one target. Never throws for ARM or API failures; asks for a retry instead. */
export async function reconcileTarget(
  deps: WorkerDeps,
  snapshot: TargetSnapshot,
  memory: TargetMemory,
): Promise<RunResult> {
  const { clock, options } = deps;
  const now = clock.now();
  const target = snapshot.target;
  const useArm = needsArm(snapshot, memory);

  // Forget backoffs of identities this target no longer wants.
  const wanted = new Set(snapshot.desired.map((d) => lower(d.resourceId)));
  for (const id of memory.refused.keys()) if (!wanted.has(id)) memory.refused.delete(id);
  const blockedAdds = new Set([...memory.refused].filter(([, b]) => b.until > now).map(([id]) => id));

  const planWith = (arm: readonly string[] | undefined) =>
    planTarget({
      desired: snapshot.desired,
      current: snapshot.current,
      desiredElsewhere: snapshot.desiredElsewhere,
      existsElsewhere: snapshot.existsElsewhere,
      arm,
      pending: memory.pending,
      blockedAdds,
      immutableClientIds: options.immutableClientIds,
      now,
      graceMs: options.graceMs,
    });
  const nodeOf = (r: AzureAssignedIdentity) => r.spec.nodename;

  let read: TargetIdentities | undefined;
  let failure: ArmFailure | undefined;
  if (useArm && target && mayCall(memory.retry, now)) {
    try {
      read = await deps.arm.getIdentity(target);
      if (/^deleting$/i.test(read.provisioningState ?? "")) {
        failure = { kind: "deleting", message: `${target.key} is being deleted` };
        read = undefined;
      }
    } catch (error) {
      failure = armFailureOf(error);
    }
  }
  if (useArm && target && !read) {
    // ARM cannot be read now (backoff, failure, Deleting): still do what needs no ARM, so records no
    // longer desired stop granting and service-principal records are not held up. Memory is kept.
    const offline = await runWrites(deps, planWith(undefined).before, nodeOf);
    let retryAt = failure ? failRun(deps, memory, failure, target) : memory.retry.notBefore;
    if (offline.failed.size > 0) retryAt = Math.min(retryAt, clock.now() + options.targetBackoff.baseMs);
    return { retryAt, released: offline.released, patches: 0 };
  }

  const plan = planWith(read?.userAssignedIdentities);
  const before = await runWrites(deps, plan.before, nodeOf);

  let delta: DeltaResult = { added: new Set(), removed: new Set(), refused: new Map(), patches: 0 };
  if (target && read && (plan.add.length > 0 || plan.remove.length > 0)) {
    delta = await applyDelta(
      deps,
      target,
      read,
      plan.add,
      plan.remove.map((r) => r.resourceId),
    );
  }

  const after = plan.after.filter((c) => {
    if (before.failed.has(recordKey(c.write.record))) return false;
    const done = c.requires.op === "add" ? delta.added : delta.removed;
    return done.has(c.requires.resourceId);
  });
  const afterResult = await runWrites(
    deps,
    after.map((c) => c.write),
    nodeOf,
  );

  // Remember what is still to remove: held back by grace, or whose removal did not go through.
  memory.pending = [...plan.pending, ...plan.remove.filter((r) => !delta.removed.has(lower(r.resourceId)))];

  const later = clock.now();
  for (const id of delta.added) memory.refused.delete(id);
  for (const [id, why] of delta.refused) {
    memory.refused.set(
      id,
      afterIdentityFailure(memory.refused.get(id), later, why, options.identityBackoff, deps.random),
    );
    // The records waiting for this identity stay Created; say why on their bindings.
    for (const c of plan.after) {
      if (c.requires.resourceId !== id || c.write.kind !== "status") continue;
      const record = c.write.record;
      const ref = bindingRef(c.write.desired, record);
      deps.events.emit({
        type: "Warning",
        reason: EventReason.BindingApplyError,
        message: bindingApplyErrorMessage(
          ref.name,
          record.spec.nodename,
          record.metadata.name,
          `${why.code}: ${why.message}`,
        ),
        object: ref,
      });
    }
  }

  let retryAt = plan.wakeAt;
  const consider = (at: number | undefined) => {
    if (at !== undefined) retryAt = retryAt === undefined ? at : Math.min(retryAt, at);
  };
  for (const backoff of memory.refused.values()) consider(backoff.until);
  if (delta.failure && target) {
    consider(failRun(deps, memory, delta.failure, target));
  } else if (delta.refused.size > 0 && plan.remove.some((r) => delta.refused.has(lower(r.resourceId)))) {
    memory.retry = afterTransientFailure(memory.retry, later, options.targetBackoff, deps.random);
    consider(memory.retry.notBefore);
  } else if (useArm) {
    memory.retry = afterSuccess(memory.retry);
  }
  if (before.failed.size > 0 || afterResult.failed.size > 0) consider(later + options.targetBackoff.baseMs);
  return { retryAt, released: [...before.released, ...afterResult.released], patches: delta.patches };
}

/** Backs the target off after an ARM failure; returns when it may be called again. */
function failRun(deps: WorkerDeps, memory: TargetMemory, failure: ArmFailure, target: ArmTarget): number {
  const now = deps.clock.now();
  memory.retry =
    failure.kind === "throttled"
      ? afterThrottle(memory.retry, now, failure.retryAfterMs)
      : afterTransientFailure(memory.retry, now, deps.options.targetBackoff, deps.random);
  deps.log.warn("ARM identity update of target failed", {
    target: target.key,
    failure: failure.kind,
    message: failure.message,
    retryAt: new Date(memory.retry.notBefore).toISOString(),
  });
  return memory.retry.notBefore;
}

/** Records of a node that is gone: deleted without any ARM call, as aad-pod-identity did (§4.2 step 6). */
export async function releaseGoneNodeRecords(
  deps: Pick<WorkerDeps, "records" | "events" | "log" | "options">,
  records: readonly AzureAssignedIdentity[],
): Promise<{ released: string[]; failed: number }> {
  const results = await mapLimit(records, deps.options.createDeleteBatch, (r) =>
    deps.records.delete(r.metadata.namespace, r.metadata.name),
  );
  const released: string[] = [];
  results.forEach((result, index) => {
    const record = records[index] as AzureAssignedIdentity;
    const ref = bindingRef(undefined, record);
    if (result.status === "fulfilled") {
      released.push(recordKey(record));
      deps.events.emit({
        type: "Normal",
        reason: EventReason.BindingRemoved,
        message: bindingRemovedMessage(ref.name, record.spec.nodename, record.spec.pod),
        object: ref,
      });
    } else {
      const detail = result.reason instanceof Error ? result.reason.message : String(result.reason);
      deps.events.emit({
        type: "Warning",
        reason: EventReason.BindingRemoveError,
        message: bindingRemoveErrorMessage(ref.name, record.spec.nodename, record.spec.pod, detail),
        object: ref,
      });
    }
  });
  return { released, failed: records.length - released.length };
}
