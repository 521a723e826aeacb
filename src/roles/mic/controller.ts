// The MIC controller: informer events in, per-target reconciles out.
// - Events update local caches; an event that changes nothing MIC looks at (informer resyncs, echoes
//   of MIC's own writes) causes no work at all (§9.18, issue #1221).
// - Real changes mark the desired state dirty; one recompute (indexed, O(pods + bindings)) runs per
//   burst of events, and only targets whose desired records changed are enqueued.
// - Each VM / VMSS has its own serial queue (assignment-queues.ts): no global barrier (§9.19).
// - Every identity-assignment-reconcile-interval, targets with Assigned records are re-checked and
//   missing identities added back (never extras removed); every syncRetryDuration, all targets.
import {
  API_VERSION,
  type AssignedState,
  type AzureAssignedIdentity,
  BINDING_LABEL,
  parseCrd,
} from "../../kube/crds.ts";
import { TargetQueues } from "./assignment-queues.ts";
import {
  newTargetMemory,
  reconcileTarget,
  releaseGoneNodeRecords,
  type TargetMemory,
  type WorkerDeps,
  type WorkerOptions,
} from "./assignment-worker.ts";
import { type Clock, systemClock } from "./clock.ts";
import {
  type BindingIndex,
  type DesiredAssignment,
  type DesiredProblem,
  desiredFromIndex,
  indexBindings,
  type PodInfo,
} from "./desired-state.ts";
import { type ArmScope, type ArmTarget, type NodeInfo, nodeTarget } from "./node-target.ts";
import { recordIdentity, recordKey } from "./plan.ts";
import { type ArmIdentityPort, type EventPort, type LogPort, type RecordStorePort, silentLog } from "./ports.ts";
import { type RateLimiter, tokenBucket } from "./rate-limiter.ts";
import { type BackoffOptions, DEFAULT_BACKOFF } from "./retry-policy.ts";
import { isAssigned } from "./state-machine.ts";

/** What the cloud config decides; azure.json can change while MIC runs (setCloudSettings). */
export interface CloudSettings {
  /** --immutable-user-msis plus the cluster identity (azure.json userAssignedIdentityID); any case. */
  immutableClientIds: readonly string[];
  /** Subscription and resource group from the cloud config: only for nodes without a usable providerID. */
  fallbackScope?: ArmScope | undefined;
}

export interface MicControllerOptions extends CloudSettings {
  forceNamespaced: boolean;
  /** --unassign-grace-period (default 30 s). */
  unassignGracePeriodMs?: number;
  /** --createDeleteBatch (default 20). */
  createDeleteBatch?: number;
  /** --clientQps (default 50): API-server writes per second (and burst). 0 disables the limit. */
  clientQps?: number;
  /** --update-user-msi-max-retry (default 2). */
  updateUserMsiMaxRetry?: number;
  /** --update-user-msi-retry-interval (default 1 s). */
  updateUserMsiRetryIntervalMs?: number;
  /** --identity-assignment-reconcile-interval (default 3 min). */
  identityAssignmentReconcileIntervalMs?: number;
  /** --syncRetryDuration (default 1 h). */
  syncRetryDurationMs?: number;
  /** How long a burst of events is gathered before desired state is recomputed (default 20 ms). */
  recomputeDelayMs?: number;
  targetBackoff?: BackoffOptions;
  identityBackoff?: BackoffOptions;
  /** Targets worked on at once (default unbounded). */
  maxConcurrentTargets?: number;
}

export interface MicControllerPorts {
  arm: ArmIdentityPort;
  records: RecordStorePort;
  events: EventPort;
  log?: LogPort;
  clock?: Clock;
  random?: () => number;
  /** Told after every run of a target's queue (metrics). */
  onRunFinished?: (queueKey: string, durationMs: number) => void;
}

const GONE_QUEUE_PREFIX = "gone-node:";
const UNRESOLVED_PREFIX = "unresolved-node:";

function podSignature(pod: PodInfo): string {
  const completed = pod.phase === "Succeeded" || pod.phase === "Failed";
  return JSON.stringify([pod.nodeName ?? "", pod.labels?.[BINDING_LABEL] ?? "", completed]);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value as object)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** What of an AzureIdentity / AzureIdentityBinding matters: not resourceVersion, not managedFields. */
function crdSignature(raw: unknown): string {
  const obj = (raw ?? {}) as { metadata?: { annotations?: unknown; uid?: unknown }; spec?: unknown };
  return stableJson([obj.metadata?.annotations ?? null, obj.metadata?.uid ?? null, obj.spec ?? null]);
}

function recordSignature(record: AzureAssignedIdentity): string {
  const { labels, annotations, finalizers, deletionTimestamp } = record.metadata;
  return stableJson([labels, annotations, finalizers, deletionTimestamp, record.spec, record.status?.status ?? ""]);
}

function desiredSignature(d: DesiredAssignment): string {
  return stableJson([
    d.key,
    d.podName,
    d.podNamespace,
    d.nodeName,
    d.identity.metadata.namespace,
    d.identity.metadata.name,
    d.identity.spec,
    d.binding.metadata.namespace,
    d.binding.metadata.name,
    d.binding.spec,
  ]);
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

const lowerSet = (ids: readonly string[]) => new Set(ids.filter(Boolean).map((id) => id.toLowerCase()));

function sameSettings(a: CloudSettings, b: CloudSettings): boolean {
  const ids = (s: CloudSettings) => [...lowerSet(s.immutableClientIds)].sort().join(",");
  const scope = (s: CloudSettings) =>
    `${s.fallbackScope?.subscriptionId ?? ""}/${s.fallbackScope?.resourceGroup ?? ""}`;
  return ids(a) === ids(b) && scope(a) === scope(b);
}

export class MicController {
  private readonly pods = new Map<string, PodInfo>();
  private readonly podSignatures = new Map<string, string>();
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly nodeTargets = new Map<string, { key: string; target: ArmTarget | undefined }>();
  private readonly bindings = new Map<string, unknown>();
  private readonly identities = new Map<string, unknown>();
  private readonly crdSignatures = new Map<string, string>();
  private readonly records = new Map<string, AzureAssignedIdentity>();
  private readonly recordSignatures = new Map<string, string>();
  private readonly ownResourceVersions = new Map<string, Set<string>>();

  private index: BindingIndex | undefined;
  private desiredByTarget = new Map<string, DesiredAssignment[]>();
  private targetSignatures = new Map<string, string>();
  private desiredTargetOfKey = new Map<string, string>();
  private readonly targets = new Map<string, ArmTarget | undefined>();
  private readonly memory = new Map<string, TargetMemory>();
  private reportedProblems = new Set<string>();

  private readonly queues: TargetQueues;
  private readonly clock: Clock;
  private readonly log: LogPort;
  private readonly deps: WorkerDeps;
  private readonly writeLimiter: RateLimiter;
  private readonly options: Required<Omit<MicControllerOptions, keyof CloudSettings>>;
  private fallbackScope: ArmScope | undefined;
  private started = false;
  private recomputeScheduled = false;
  private recomputeNeeded = false;
  private cancelTimers: (() => void)[] = [];
  /** ARM PATCHes sent, per target key (for metrics and tests). */
  readonly patchCounts = new Map<string, number>();

  constructor(options: MicControllerOptions, ports: MicControllerPorts) {
    this.clock = ports.clock ?? systemClock;
    this.log = ports.log ?? silentLog;
    this.options = {
      forceNamespaced: options.forceNamespaced,
      unassignGracePeriodMs: options.unassignGracePeriodMs ?? 30_000,
      createDeleteBatch: options.createDeleteBatch ?? 20,
      clientQps: options.clientQps ?? 50,
      updateUserMsiMaxRetry: options.updateUserMsiMaxRetry ?? 2,
      updateUserMsiRetryIntervalMs: options.updateUserMsiRetryIntervalMs ?? 1_000,
      identityAssignmentReconcileIntervalMs: options.identityAssignmentReconcileIntervalMs ?? 3 * 60_000,
      syncRetryDurationMs: options.syncRetryDurationMs ?? 3_600_000,
      recomputeDelayMs: options.recomputeDelayMs ?? 20,
      targetBackoff: options.targetBackoff ?? DEFAULT_BACKOFF,
      identityBackoff: options.identityBackoff ?? DEFAULT_BACKOFF,
      maxConcurrentTargets: options.maxConcurrentTargets ?? Number.POSITIVE_INFINITY,
    };
    this.fallbackScope = options.fallbackScope;
    this.writeLimiter = tokenBucket(this.options.clientQps, this.options.clientQps, this.clock);
    const workerOptions: WorkerOptions = {
      graceMs: this.options.unassignGracePeriodMs,
      createDeleteBatch: this.options.createDeleteBatch,
      updateUserMsiMaxRetry: this.options.updateUserMsiMaxRetry,
      updateUserMsiRetryIntervalMs: this.options.updateUserMsiRetryIntervalMs,
      immutableClientIds: lowerSet(options.immutableClientIds),
      targetBackoff: this.options.targetBackoff,
      identityBackoff: this.options.identityBackoff,
    };
    this.deps = {
      arm: ports.arm,
      records: this.writeThrough(ports.records),
      events: ports.events,
      log: this.log,
      clock: this.clock,
      random: ports.random ?? Math.random,
      options: workerOptions,
    };
    const onRunFinished = ports.onRunFinished;
    const run = (key: string) => this.runKey(key);
    const timedRun = onRunFinished
      ? async (key: string) => {
          const started = this.clock.now();
          try {
            return await run(key);
          } finally {
            onRunFinished(key, this.clock.now() - started);
          }
        }
      : run;
    this.queues = new TargetQueues(timedRun, this.clock, {
      maxConcurrent: this.options.maxConcurrentTargets,
      onError: (key, error) => this.log.error("MIC target run failed", { target: key, error: String(error) }),
    });
  }

  // ---- informer-facing API: plain data in, idempotent, cheap when nothing changed ----

  upsertPod(pod: PodInfo): void {
    const key = keyOf(pod.namespace, pod.name);
    if (!pod.labels?.[BINDING_LABEL]) {
      if (this.pods.has(key)) this.deletePod(pod.namespace, pod.name);
      return;
    }
    const signature = podSignature(pod);
    if (this.podSignatures.get(key) === signature) return;
    this.pods.set(key, pod);
    this.podSignatures.set(key, signature);
    this.markDirty();
  }

  deletePod(namespace: string, name: string): void {
    const key = keyOf(namespace, name);
    if (!this.pods.delete(key)) return;
    this.podSignatures.delete(key);
    this.markDirty();
  }

  upsertNode(node: NodeInfo): void {
    const previous = this.nodes.get(node.name);
    if (previous && previous.providerId === node.providerId) return;
    this.nodes.set(node.name, { name: node.name, providerId: node.providerId });
    this.nodeTargets.delete(node.name);
    this.markDirty();
  }

  deleteNode(name: string): void {
    if (!this.nodes.delete(name)) return;
    this.nodeTargets.delete(name);
    this.markDirty();
    if (this.started) this.queues.enqueue(GONE_QUEUE_PREFIX + name);
  }

  upsertBinding(raw: unknown): void {
    this.upsertCrd(this.bindings, "binding", raw);
  }

  deleteBinding(namespace: string, name: string): void {
    this.deleteCrd(this.bindings, "binding", keyOf(namespace, name));
  }

  upsertIdentity(raw: unknown): void {
    this.upsertCrd(this.identities, "identity", raw);
  }

  deleteIdentity(namespace: string, name: string): void {
    this.deleteCrd(this.identities, "identity", keyOf(namespace, name));
  }

  upsertAssignedIdentity(raw: unknown): void {
    const parsed = parseCrd("AzureAssignedIdentity", raw);
    if (!parsed.ok) {
      this.log.warn("ignoring malformed AzureAssignedIdentity", { problems: parsed.problems });
      return;
    }
    const record = parsed.value;
    const key = recordKey(record);
    const rv = record.metadata.resourceVersion;
    // An echo of MIC's own write: the cache already holds that version or a newer one.
    if (rv && this.ownResourceVersions.get(key)?.has(rv)) return;
    const previous = this.records.get(key);
    const changed = !previous || this.recordSignatures.get(key) !== recordSignature(record);
    this.storeRecord(record);
    if (!changed || !this.started) return;
    this.enqueueForRecord(record);
    if (previous && previous.spec.nodename !== record.spec.nodename) this.enqueueForRecord(previous);
  }

  deleteAssignedIdentity(namespace: string, name: string): void {
    const key = keyOf(namespace, name);
    const previous = this.records.get(key);
    // The watch's last word on this object: MIC's own versions of it need no more remembering.
    this.ownResourceVersions.delete(key);
    if (!previous) return;
    this.forgetRecord(key);
    if (this.started) this.enqueueForRecord(previous);
  }

  // ---- lifecycle ----

  /** Call once the informer caches have synced: computes, enqueues everything, starts the tickers. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.recompute(true);
    this.sweepGoneNodes();
    this.every(this.options.identityAssignmentReconcileIntervalMs, () => this.driftPass());
    this.every(this.options.syncRetryDurationMs, () => this.fullPass());
  }

  /**
   * A reloaded cloud config: the immutable set (the cluster identity may have changed) and the fallback
   * scope take effect for every later decision, and every target is planned again with them.
   */
  setCloudSettings(settings: CloudSettings): void {
    const current = {
      immutableClientIds: [...this.deps.options.immutableClientIds],
      fallbackScope: this.fallbackScope,
    };
    if (sameSettings(current, settings)) return;
    this.deps.options = { ...this.deps.options, immutableClientIds: lowerSet(settings.immutableClientIds) };
    this.fallbackScope = settings.fallbackScope;
    this.nodeTargets.clear();
    if (this.started) this.fullPass();
  }

  stop(): void {
    this.started = false;
    for (const cancel of this.cancelTimers) cancel();
    this.cancelTimers = [];
    this.queues.stop();
  }

  /** Resolves once no recompute is pending and no target run is in flight or ready. */
  async idle(): Promise<void> {
    for (;;) {
      while (this.recomputeScheduled) await this.clock.sleep(this.options.recomputeDelayMs);
      await this.queues.idle();
      if (!this.recomputeScheduled && this.queues.isIdle()) return;
    }
  }

  /** Every target with records needing a user-assigned identity in Assigned state is re-checked. */
  driftPass(): void {
    const keys = new Set<string>();
    for (const record of this.records.values()) {
      if (!isAssigned(record.status?.status) || recordIdentity(record).resourceId === "") continue;
      const key = this.targetKeyOfNode(record.spec.nodename);
      if (key) keys.add(key);
    }
    for (const key of keys) this.queues.enqueue(key);
  }

  /** Everything: recompute, every target, records of gone nodes. */
  fullPass(): void {
    this.recompute(true);
    this.sweepGoneNodes();
  }

  /** Introspection for health/metrics and tests. */
  recordsSnapshot(): AzureAssignedIdentity[] {
    return [...this.records.values()];
  }

  queueRuns(): ReadonlyMap<string, number> {
    return this.queues.runs;
  }

  /** Outstanding work per target (by VM / scale set name): desired records not yet Assigned plus removals pending. */
  queueDepths(): Map<string, number> {
    const depths = new Map<string, number>();
    const nameOf = (key: string) => this.targets.get(key)?.name ?? key;
    for (const [key, list] of this.desiredByTarget) {
      let depth = 0;
      for (const d of list)
        if (!isAssigned(this.records.get(d.key)?.status?.status) || !this.records.has(d.key)) depth++;
      depths.set(nameOf(key), depth);
    }
    for (const [key, memory] of this.memory) {
      const name = nameOf(key);
      depths.set(name, (depths.get(name) ?? 0) + memory.pending.length);
    }
    return depths;
  }

  // ---- internals ----

  private every(intervalMs: number, tick: () => void): void {
    if (!(intervalMs > 0)) return;
    const schedule = () => {
      this.cancelTimers.push(
        this.clock.setTimer(() => {
          if (!this.started) return;
          tick();
          schedule();
        }, intervalMs),
      );
    };
    schedule();
  }

  private upsertCrd(store: Map<string, unknown>, kind: string, raw: unknown): void {
    const meta = (raw as { metadata?: { namespace?: unknown; name?: unknown } } | null)?.metadata;
    const key = keyOf(String(meta?.namespace ?? ""), String(meta?.name ?? ""));
    const signature = crdSignature(raw);
    if (this.crdSignatures.get(`${kind}:${key}`) === signature) return;
    store.set(key, raw);
    this.crdSignatures.set(`${kind}:${key}`, signature);
    this.index = undefined;
    this.markDirty();
  }

  private deleteCrd(store: Map<string, unknown>, kind: string, key: string): void {
    if (!store.delete(key)) return;
    this.crdSignatures.delete(`${kind}:${key}`);
    this.index = undefined;
    this.markDirty();
  }

  private markDirty(): void {
    this.recomputeNeeded = true;
    if (!this.started || this.recomputeScheduled) return;
    this.recomputeScheduled = true;
    this.clock.setTimer(() => {
      this.recomputeScheduled = false;
      if (this.started && this.recomputeNeeded) this.recompute(false);
    }, this.options.recomputeDelayMs);
  }

  private targetOfNode(nodeName: string): { key: string; target: ArmTarget | undefined } | undefined {
    const cached = this.nodeTargets.get(nodeName);
    if (cached) return cached;
    const node = this.nodes.get(nodeName);
    if (!node) return undefined;
    const target = nodeTarget(node, this.fallbackScope);
    const resolved = { key: target?.key ?? UNRESOLVED_PREFIX + nodeName, target };
    this.nodeTargets.set(nodeName, resolved);
    return resolved;
  }

  private targetKeyOfNode(nodeName: string): string | undefined {
    return this.targetOfNode(nodeName)?.key;
  }

  /** Recomputes desired state; enqueues the targets whose desired records changed (all if `all`). */
  private recompute(all: boolean): void {
    this.recomputeNeeded = false;
    if (!this.index) {
      this.index = indexBindings(
        [...this.bindings.values()],
        [...this.identities.values()],
        this.options.forceNamespaced,
      );
      this.reportProblems(this.index.problems);
    }
    const desired = desiredFromIndex([...this.pods.values()], this.index);
    const byTarget = new Map<string, DesiredAssignment[]>();
    const targetOfKey = new Map<string, string>();
    for (const d of desired) {
      const resolved = this.targetOfNode(d.nodeName);
      if (!resolved) continue; // node not known (yet): nothing can be assigned
      this.targets.set(resolved.key, resolved.target);
      targetOfKey.set(d.key, resolved.key);
      const list = byTarget.get(resolved.key);
      if (list) list.push(d);
      else byTarget.set(resolved.key, [d]);
    }
    const signatures = new Map<string, string>();
    for (const [key, list] of byTarget) signatures.set(key, list.map(desiredSignature).join("\n"));
    const changed = new Set<string>();
    for (const [key, signature] of signatures)
      if (all || this.targetSignatures.get(key) !== signature) changed.add(key);
    for (const key of this.targetSignatures.keys()) if (!signatures.has(key)) changed.add(key);
    if (all)
      for (const record of this.records.values()) {
        const key = this.targetKeyOfNode(record.spec.nodename);
        if (key) changed.add(key);
      }
    this.desiredByTarget = byTarget;
    this.desiredTargetOfKey = targetOfKey;
    this.targetSignatures = signatures;
    for (const key of changed) this.queues.enqueue(key);
  }

  private reportProblems(problems: readonly DesiredProblem[]): void {
    const seen = new Set<string>();
    for (const p of problems) {
      const id = `${p.kind}/${p.namespace}/${p.name}/${p.message}`;
      seen.add(id);
      if (this.reportedProblems.has(id)) continue;
      this.log.warn(p.message, { kind: p.kind, namespace: p.namespace, name: p.name });
      if (p.warn)
        this.deps.events.emit({
          type: "Warning",
          reason: p.reason,
          message: p.message,
          object: { apiVersion: API_VERSION, kind: p.kind, namespace: p.namespace, name: p.name },
        });
    }
    this.reportedProblems = seen;
  }

  private sweepGoneNodes(): void {
    const gone = new Set<string>();
    for (const record of this.records.values())
      if (!this.nodes.has(record.spec.nodename)) gone.add(record.spec.nodename);
    for (const node of gone) this.queues.enqueue(GONE_QUEUE_PREFIX + node);
  }

  private enqueueForRecord(record: AzureAssignedIdentity): void {
    if (!this.nodes.has(record.spec.nodename)) {
      this.queues.enqueue(GONE_QUEUE_PREFIX + record.spec.nodename);
    } else {
      const key = this.targetKeyOfNode(record.spec.nodename);
      if (key) this.queues.enqueue(key);
    }
    const desiredTarget = this.desiredTargetOfKey.get(recordKey(record));
    if (desiredTarget) this.queues.enqueue(desiredTarget);
  }

  private async runKey(queueKey: string): Promise<{ retryAt?: number | undefined } | undefined> {
    // Never act on a desired state that events have already made stale (e.g. a node just deleted).
    if (this.recomputeNeeded) this.recompute(false);
    if (queueKey.startsWith(GONE_QUEUE_PREFIX)) {
      const node = queueKey.slice(GONE_QUEUE_PREFIX.length);
      if (this.nodes.has(node)) return undefined;
      const records = [...this.records.values()].filter((r) => r.spec.nodename === node);
      const result = await releaseGoneNodeRecords(this.deps, records);
      this.afterRelease(result.released);
      return result.failed > 0 ? { retryAt: this.clock.now() + this.options.targetBackoff.baseMs } : undefined;
    }
    let memory = this.memory.get(queueKey);
    if (!memory) {
      memory = newTargetMemory();
      this.memory.set(queueKey, memory);
    }
    const current = [...this.records.values()].filter((r) => this.targetKeyOfNode(r.spec.nodename) === queueKey);
    const result = await reconcileTarget(
      this.deps,
      {
        target: this.targets.get(queueKey) ?? this.resolveTarget(queueKey),
        desired: this.desiredByTarget.get(queueKey) ?? [],
        current,
        desiredElsewhere: (key) => {
          const other = this.desiredTargetOfKey.get(key);
          return other !== undefined && other !== queueKey;
        },
        existsElsewhere: (key) => {
          const record = this.records.get(key);
          return record !== undefined && this.targetKeyOfNode(record.spec.nodename) !== queueKey;
        },
      },
      memory,
    );
    if (result.patches > 0) this.patchCounts.set(queueKey, (this.patchCounts.get(queueKey) ?? 0) + result.patches);
    this.afterRelease(result.released);
    if (
      memory.pending.length === 0 &&
      memory.refused.size === 0 &&
      memory.retry.failures === 0 &&
      !this.desiredByTarget.has(queueKey) &&
      current.length === 0
    )
      this.memory.delete(queueKey);
    return { retryAt: result.retryAt };
  }

  private resolveTarget(queueKey: string): ArmTarget | undefined {
    for (const node of this.nodes.values()) {
      const resolved = this.targetOfNode(node.name);
      if (resolved?.key === queueKey) return resolved.target;
    }
    return undefined;
  }

  /** Records deleted by one target may be what another target waits for (a pod that moved). */
  private afterRelease(keys: readonly string[]): void {
    for (const key of keys) {
      const target = this.desiredTargetOfKey.get(key);
      if (target) this.queues.enqueue(target);
    }
  }

  // ---- record cache, written through by MIC's own writes ----

  private storeRecord(record: AzureAssignedIdentity): void {
    const key = recordKey(record);
    this.records.set(key, record);
    this.recordSignatures.set(key, recordSignature(record));
  }

  private forgetRecord(key: string): void {
    this.records.delete(key);
    this.recordSignatures.delete(key);
  }

  private noteOwnWrite(record: AzureAssignedIdentity): AzureAssignedIdentity {
    const key = recordKey(record);
    const rv = record.metadata.resourceVersion;
    if (rv) {
      const set = this.ownResourceVersions.get(key) ?? new Set<string>();
      set.add(rv);
      this.ownResourceVersions.set(key, set);
    }
    this.storeRecord(record);
    return record;
  }

  private writeThrough(store: RecordStorePort): RecordStorePort {
    const limit = this.writeLimiter;
    return {
      create: async (record) => {
        await limit.acquire();
        return this.noteOwnWrite(await store.create(record));
      },
      update: async (record) => {
        await limit.acquire();
        return this.noteOwnWrite(await store.update(record));
      },
      patchStatus: async (namespace: string, name: string, status: AssignedState) => {
        await limit.acquire();
        return this.noteOwnWrite(await store.patchStatus(namespace, name, status));
      },
      delete: async (namespace, name) => {
        await limit.acquire();
        await store.delete(namespace, name);
        this.forgetRecord(keyOf(namespace, name));
      },
    };
  }
}
