// Lease-based leader election (coordination.k8s.io/v1), the way client-go does it: acquire, renew
// every retry period, give up leadership at once when no renewal succeeded within the renew deadline,
// and on a clean stop write the lease back with no holder so a standby takes over at once.
// The decision itself is the pure `decideLease`; this file only reads, writes and keeps time.
// Becoming leader is also recorded as an Event on the Lease, as client-go's LeaseLock does (Normal,
// reason "LeaderElection", "<identity> became leader").
import * as v from "valibot";
import type { KubeClient } from "./client.ts";
import { isConflict, isNotFound, KubeApiError } from "./errors.ts";
import type { EventType, InvolvedObject } from "./event-aggregation.ts";
import {
  decideLease,
  formatMicroTime,
  type LeaseRecord,
  type Observation,
  observe,
  parseMicroTime,
  releasedRecord,
} from "./lease-decision.ts";
import { type KubeLogger, silentLogger } from "./log.ts";
import { abortableSleep } from "./rate-limiter.ts";

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** Holder identity (the original uses the pod hostname). */
  identity: string;
  /** Default 15 s (MIC's --leader-election-duration). */
  leaseDurationMs?: number;
  /** Default leaseDuration / 2, as the original. */
  renewDeadlineMs?: number;
  /** Default leaseDuration / 4, as the original. */
  retryPeriodMs?: number;
  /** Called when we become leader; `signal` aborts when leadership ends for any reason. */
  onStartedLeading?: (signal: AbortSignal) => void;
  /** Called when we stop leading (lost, deadline passed, or stopped). */
  onStoppedLeading?: (reason: string) => void;
  /** Called whenever the observed holder changes to a (non-empty) identity, ours included. */
  onNewLeader?: (identity: string) => void;
  logger?: KubeLogger;
  /** Where leadership events go (the role's EventRecorder); none are recorded without it. */
  events?: { event(object: InvolvedObject, type: EventType, reason: string, message: string): void };
  /** Clocks, for tests: monotonic ms and wall-clock ms. */
  clock?: { now(): number; wallNow(): number };
}

/** client-go's reason for leader election events. */
export const LEADER_ELECTION_REASON = "LeaderElection";

const LeaseSchema = v.looseObject({
  metadata: v.looseObject({ resourceVersion: v.optional(v.string()), uid: v.optional(v.string()) }),
  spec: v.optional(
    v.looseObject({
      holderIdentity: v.optional(v.nullable(v.string())),
      leaseDurationSeconds: v.optional(v.nullable(v.number())),
      acquireTime: v.optional(v.nullable(v.string())),
      renewTime: v.optional(v.nullable(v.string())),
      leaseTransitions: v.optional(v.nullable(v.number())),
    }),
    {},
  ),
});
type LeaseObject = v.InferOutput<typeof LeaseSchema>;

/** Reads the election record out of a Lease. */
export function leaseRecordOf(lease: LeaseObject): LeaseRecord {
  return {
    holderIdentity: lease.spec.holderIdentity ?? "",
    leaseDurationSeconds: lease.spec.leaseDurationSeconds ?? 0,
    acquireTime: parseMicroTime(lease.spec.acquireTime),
    renewTime: parseMicroTime(lease.spec.renewTime),
    leaseTransitions: lease.spec.leaseTransitions ?? 0,
  };
}

function leaseSpecOf(record: LeaseRecord): Record<string, unknown> {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: record.acquireTime === undefined ? null : formatMicroTime(record.acquireTime),
    renewTime: record.renewTime === undefined ? null : formatMicroTime(record.renewTime),
    leaseTransitions: record.leaseTransitions,
  };
}

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: KubeLogger;
  private readonly clock: { now(): number; wallNow(): number };
  private readonly stopSignal = new AbortController();
  private leading = false;
  private leadership: AbortController | undefined;
  private observedLeader = "";
  private observation: Observation | undefined;
  /** The last lease object read or written, for PUT (it carries the resourceVersion). */
  private lastLease: LeaseObject | undefined;
  private attempt: AbortController | undefined;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? this.leaseDurationMs / 2;
    this.retryPeriodMs = options.retryPeriodMs ?? this.leaseDurationMs / 4;
    if (!(this.leaseDurationMs > this.renewDeadlineMs))
      throw new Error("lease duration must exceed the renew deadline");
    if (!(this.renewDeadlineMs > this.retryPeriodMs)) throw new Error("renew deadline must exceed the retry period");
    if (!options.identity) throw new Error("leader election needs a non-empty identity");
    this.log = options.logger ?? silentLogger;
    this.clock = options.clock ?? { now: () => performance.now(), wallNow: () => Date.now() };
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder we last saw in the lease ("" when none). */
  leader(): string {
    return this.observedLeader;
  }

  start(): this {
    if (!this.running && !this.stopSignal.signal.aborted) this.running = this.run();
    return this;
  }

  /**
   * Stops campaigning. When leading, stops leading first, then (unless `release: false`, which
   * simulates a crash) writes the lease back with no holder so a standby takes over immediately.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopSignal.abort(new Error("leader election stopped"));
    this.attempt?.abort(new Error("leader election stopped"));
    this.loseLeadership("stopped");
    await this.running;
    // Also covers an acquire that succeeded while we were stopping: release checks the holder.
    if (options.release !== false) await this.release();
  }

  private get leasePath(): string {
    const ns = encodeURIComponent(this.options.namespace);
    return `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${encodeURIComponent(this.options.name)}`;
  }

  private async run(): Promise<void> {
    const stop = this.stopSignal.signal;
    while (!stop.aborted) {
      const sentAt = this.clock.now();
      const attempt = new AbortController();
      this.attempt = attempt;
      // A candidate's attempt must not hang; a leader's attempt is cut off by the renew deadline.
      const timeout = setTimeout(() => attempt.abort(new Error("lease request timed out")), this.renewDeadlineMs);
      let acquired = false;
      try {
        acquired = await this.tryAcquireOrRenew(AbortSignal.any([stop, attempt.signal]));
      } catch (err) {
        if (stop.aborted) break;
        this.log.warn(
          { lease: this.options.name, err: err instanceof Error ? err.message : String(err) },
          "lease attempt failed",
        );
      } finally {
        clearTimeout(timeout);
      }
      if (stop.aborted) break;
      if (acquired) this.renewed(sentAt);
      const wait = this.leading ? this.retryPeriodMs : this.retryPeriodMs * (1 + Math.random() * 0.2);
      try {
        await abortableSleep(wait, stop);
      } catch {
        break;
      }
    }
    this.clearDeadline();
  }

  /** A write of ours succeeded; it was sent at `sentAt`, so our claim is safe until sentAt + renewDeadline. */
  private renewed(sentAt: number): void {
    if (!this.leading) {
      this.leading = true;
      this.leadership = new AbortController();
      this.log.info({ lease: this.options.name, identity: this.options.identity }, "became leader");
      this.safely(() => this.recordEvent("became leader"));
      this.safely(() => this.options.onStartedLeading?.(this.leadership!.signal));
    }
    this.clearDeadline();
    const remaining = sentAt + this.renewDeadlineMs - this.clock.now();
    this.deadlineTimer = setTimeout(
      () => {
        this.attempt?.abort(new Error("renew deadline passed"));
        this.loseLeadership("failed to renew the lease within the renew deadline");
      },
      Math.max(0, remaining),
    );
  }

  private recordEvent(what: string): void {
    const uid = this.lastLease?.metadata.uid;
    this.options.events?.event(
      {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        namespace: this.options.namespace,
        name: this.options.name,
        ...(uid ? { uid } : {}),
      },
      "Normal",
      LEADER_ELECTION_REASON,
      `${this.options.identity} ${what}`,
    );
  }

  private clearDeadline(): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  private loseLeadership(reason: string): void {
    this.clearDeadline();
    if (!this.leading) return;
    this.leading = false;
    this.leadership?.abort(new Error(reason));
    this.leadership = undefined;
    this.log.warn({ lease: this.options.name, identity: this.options.identity, reason }, "stopped leading");
    this.safely(() => this.options.onStoppedLeading?.(reason));
  }

  private noteLeader(holder: string): void {
    if (holder === this.observedLeader) return;
    this.observedLeader = holder;
    if (holder) this.safely(() => this.options.onNewLeader?.(holder));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ lease: this.options.name, err: String(err) }, "leader election callback threw");
    }
  }

  private async readLease(signal: AbortSignal): Promise<LeaseObject | undefined> {
    try {
      const raw = await this.options.client.requestJson("GET", this.leasePath, { signal });
      const parsed = v.safeParse(LeaseSchema, raw);
      if (!parsed.success) throw new KubeApiError(0, undefined, `lease ${this.options.name} is malformed`);
      return parsed.output;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async writeLease(method: "POST" | "PUT", body: unknown, signal: AbortSignal): Promise<LeaseObject> {
    const path =
      method === "POST"
        ? `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.options.namespace)}/leases`
        : this.leasePath;
    const raw = await this.options.client.requestJson(method, path, { body, signal });
    const parsed = v.safeParse(LeaseSchema, raw);
    if (!parsed.success) throw new KubeApiError(0, undefined, `lease ${this.options.name}: malformed response`);
    return parsed.output;
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const lease = await this.readLease(signal);
    const current = lease ? leaseRecordOf(lease) : undefined;
    const decision = decideLease({
      current,
      previous: this.observation,
      now: this.clock.now(),
      wallNow: this.clock.wallNow(),
      identity: this.options.identity,
      leaseDurationSeconds: Math.max(1, Math.round(this.leaseDurationMs / 1000)),
    });
    this.observation = decision.observation;
    if (current) this.noteLeader(current.holderIdentity);
    this.lastLease = lease;
    const { action } = decision;
    if (action.action === "wait") {
      // Someone else holds a valid lease: if we thought we led, we do not any more.
      this.loseLeadership(`lease is held by ${action.holder}`);
      return false;
    }
    try {
      const written =
        action.action === "create"
          ? await this.writeLease(
              "POST",
              {
                apiVersion: "coordination.k8s.io/v1",
                kind: "Lease",
                metadata: { name: this.options.name, namespace: this.options.namespace },
                spec: leaseSpecOf(action.record),
              },
              signal,
            )
          : await this.writeLease("PUT", { ...lease, spec: { ...lease?.spec, ...leaseSpecOf(action.record) } }, signal);
      this.lastLease = written;
      this.observation = observe(undefined, leaseRecordOf(written), this.clock.now());
      this.noteLeader(this.options.identity);
      return true;
    } catch (err) {
      if (isConflict(err)) {
        this.log.debug({ lease: this.options.name }, "lost a race for the lease (409)");
        return false;
      }
      throw err;
    }
  }

  /** Best effort: a failed release only means the standby waits for the lease to expire. */
  private async release(): Promise<void> {
    const signal = AbortSignal.timeout(this.renewDeadlineMs);
    try {
      let lease = this.lastLease;
      if (!lease || leaseRecordOf(lease).holderIdentity !== this.options.identity) return;
      for (let tries = 0; tries < 2; tries++) {
        if (!lease) lease = await this.readLease(signal);
        if (!lease) return;
        const current = leaseRecordOf(lease);
        if (current.holderIdentity !== this.options.identity) return;
        try {
          const spec = leaseSpecOf(releasedRecord(current, this.clock.wallNow()));
          await this.writeLease("PUT", { ...lease, spec: { ...lease.spec, ...spec } }, signal);
          this.log.info({ lease: this.options.name, identity: this.options.identity }, "released the lease");
          return;
        } catch (err) {
          if (!isConflict(err)) throw err;
          lease = undefined;
        }
      }
    } catch (err) {
      this.log.warn(
        { lease: this.options.name, err: err instanceof Error ? err.message : String(err) },
        "lease release failed",
      );
    }
  }
}
