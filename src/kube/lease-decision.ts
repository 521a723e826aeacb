// The leader-election rule, as a pure function of what we read, what we saw before and the clocks.
//
// The clock-skew trick (client-go's "observedTime"): another candidate's renewTime is written with ITS
// clock, so we never compare it with ours. Instead we remember when, on OUR clock, the lease record
// last changed; the holder keeps the lease until leaseDurationSeconds have passed since then without
// a change. A released lease (empty holderIdentity) can be taken at once.

export interface LeaseRecord {
  /** "" when nobody holds the lease (released). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** Wall-clock ms (as written by the holder); undefined when absent. */
  acquireTime: number | undefined;
  renewTime: number | undefined;
  leaseTransitions: number;
}

export interface Observation {
  record: LeaseRecord;
  /** Our monotonic clock (ms) when `record` was first seen in this exact form. */
  observedAt: number;
}

export interface DecisionInput {
  /** The lease as just read; undefined when it does not exist (404). */
  current: LeaseRecord | undefined;
  /** What we saw last time, if anything. */
  previous: Observation | undefined;
  /** Our monotonic clock, ms. */
  now: number;
  /** Our wall clock, ms: only written into records, never compared with others'. */
  wallNow: number;
  identity: string;
  /** Our configured lease duration (used when writing, and when the record carries none). */
  leaseDurationSeconds: number;
}

export type LeaseAction =
  /** No lease object yet: create it with this record (a 409 means someone else won). */
  | { action: "create"; record: LeaseRecord }
  /** Someone else holds a valid lease; look again later. */
  | { action: "wait"; holder: string; validForMs: number }
  /** Write this record over the current one (renewal when we hold it, takeover otherwise). */
  | { action: "write"; record: LeaseRecord; takeover: boolean };

export interface Decision {
  action: LeaseAction;
  /** Remember this for the next call. */
  observation: Observation | undefined;
}

export function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}

/** Updates the observation: the clock restarts only when the record changed. */
export function observe(previous: Observation | undefined, current: LeaseRecord, now: number): Observation {
  return previous && sameRecord(previous.record, current) ? previous : { record: current, observedAt: now };
}

/** How much longer (ms) another holder's record stays valid on our clock; <= 0 means expired. */
export function remainingValidity(observation: Observation, now: number, fallbackDurationSeconds: number): number {
  const duration =
    observation.record.leaseDurationSeconds > 0 ? observation.record.leaseDurationSeconds : fallbackDurationSeconds;
  return observation.observedAt + duration * 1000 - now;
}

export function decideLease(input: DecisionInput): Decision {
  const { current, identity, now, wallNow, leaseDurationSeconds } = input;
  if (!current) {
    return {
      action: {
        action: "create",
        record: {
          holderIdentity: identity,
          leaseDurationSeconds,
          acquireTime: wallNow,
          renewTime: wallNow,
          leaseTransitions: 0,
        },
      },
      observation: undefined,
    };
  }
  const observation = observe(input.previous, current, now);
  const heldByOther = current.holderIdentity !== "" && current.holderIdentity !== identity;
  if (heldByOther) {
    const validForMs = remainingValidity(observation, now, leaseDurationSeconds);
    if (validForMs > 0) return { action: { action: "wait", holder: current.holderIdentity, validForMs }, observation };
  }
  const renewing = current.holderIdentity === identity;
  return {
    action: {
      action: "write",
      takeover: !renewing,
      record: {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: renewing ? (current.acquireTime ?? wallNow) : wallNow,
        renewTime: wallNow,
        leaseTransitions: renewing ? current.leaseTransitions : current.leaseTransitions + 1,
      },
    },
    observation,
  };
}

/** The record written on a clean shutdown: nobody holds it, so a standby takes over on its next try. */
export function releasedRecord(current: LeaseRecord, wallNow: number): LeaseRecord {
  return {
    holderIdentity: "",
    leaseDurationSeconds: 1,
    acquireTime: wallNow,
    renewTime: wallNow,
    leaseTransitions: current.leaseTransitions,
  };
}

/** Kubernetes MicroTime: RFC 3339 with exactly 6 fractional digits. */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Parses RFC 3339 (any precision); undefined for absent or unparseable values. */
export function parseMicroTime(value: unknown): number | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
