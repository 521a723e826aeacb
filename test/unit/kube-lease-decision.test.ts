import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  decideLease,
  formatMicroTime,
  type LeaseRecord,
  type Observation,
  observe,
  parseMicroTime,
  releasedRecord,
} from "../../src/kube/lease-decision.ts";

const ME = "me";
const DURATION = 15;

function record(over: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    holderIdentity: "other",
    leaseDurationSeconds: DURATION,
    acquireTime: 1_000,
    renewTime: 2_000,
    leaseTransitions: 3,
    ...over,
  };
}

function decide(current: LeaseRecord | undefined, previous: Observation | undefined, now: number, wallNow = 9_999_000) {
  return decideLease({ current, previous, now, wallNow, identity: ME, leaseDurationSeconds: DURATION });
}

describe("decideLease", () => {
  test("no lease object: create one held by me with zero transitions", () => {
    const d = decide(undefined, undefined, 50, 7_000);
    expect(d.action).toEqual({
      action: "create",
      record: {
        holderIdentity: ME,
        leaseDurationSeconds: DURATION,
        acquireTime: 7_000,
        renewTime: 7_000,
        leaseTransitions: 0,
      },
    });
  });

  test("another holder's record seen for the first time is valid for a full lease duration on our clock", () => {
    const d = decide(record(), undefined, 100_000);
    expect(d.action).toEqual({ action: "wait", holder: "other", validForMs: DURATION * 1000 });
    expect(d.observation?.observedAt).toBe(100_000);
  });

  test("an unchanged record keeps its first observation time; it expires exactly leaseDuration later", () => {
    const first = decide(record(), undefined, 0);
    const before = decide(record(), first.observation, DURATION * 1000 - 1);
    expect(before.action.action).toBe("wait");
    expect(before.observation?.observedAt).toBe(0);
    const at = decide(record(), before.observation, DURATION * 1000);
    expect(at.action).toMatchObject({ action: "write", takeover: true });
  });

  test("a renewed record (new renewTime) restarts the clock even when the renewTime is ancient (clock skew)", () => {
    const first = decide(record({ renewTime: 5 }), undefined, 0);
    const later = decide(record({ renewTime: 6 }), first.observation, 14_000);
    expect(later.action.action).toBe("wait");
    expect(later.observation?.observedAt).toBe(14_000);
    const stillValid = decide(record({ renewTime: 6 }), later.observation, 28_000);
    expect(stillValid.action.action).toBe("wait");
  });

  test("the holder's own leaseDurationSeconds governs its validity", () => {
    const first = decide(record({ leaseDurationSeconds: 60 }), undefined, 0);
    expect(decide(record({ leaseDurationSeconds: 60 }), first.observation, 59_999).action.action).toBe("wait");
    expect(decide(record({ leaseDurationSeconds: 60 }), first.observation, 60_000).action.action).toBe("write");
  });

  test("takeover of an expired lease: holder me, acquireTime now, transitions + 1", () => {
    const first = decide(record(), undefined, 0);
    const d = decide(record(), first.observation, 20_000, 123_000);
    expect(d.action).toEqual({
      action: "write",
      takeover: true,
      record: {
        holderIdentity: ME,
        leaseDurationSeconds: DURATION,
        acquireTime: 123_000,
        renewTime: 123_000,
        leaseTransitions: 4,
      },
    });
  });

  test("a released lease (empty holder) is taken at once", () => {
    const released = releasedRecord(record(), 5_000);
    expect(released.holderIdentity).toBe("");
    const d = decide(released, undefined, 0, 6_000);
    expect(d.action).toMatchObject({
      action: "write",
      takeover: true,
      record: { holderIdentity: ME, leaseTransitions: 4 },
    });
  });

  test("renewal of my own lease keeps acquireTime and transitions and moves renewTime", () => {
    const mine = record({ holderIdentity: ME, acquireTime: 111, renewTime: 222, leaseTransitions: 7 });
    const d = decide(mine, undefined, 0, 333);
    expect(d.action).toEqual({
      action: "write",
      takeover: false,
      record: {
        holderIdentity: ME,
        leaseDurationSeconds: DURATION,
        acquireTime: 111,
        renewTime: 333,
        leaseTransitions: 7,
      },
    });
  });

  test("property: another holder's valid record is never taken, whatever the wall clocks say", () => {
    fc.assert(
      fc.property(
        fc.record({
          renewTime: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
          acquireTime: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
          leaseDurationSeconds: fc.integer({ min: 1, max: 3600 }),
          leaseTransitions: fc.nat(1000),
        }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.nat(3_600_000),
        (fields, observedAt, wallNow, elapsed) => {
          const current = record(fields);
          const previous: Observation = { record: current, observedAt };
          const d = decide(current, previous, observedAt + elapsed, wallNow);
          const valid = elapsed < fields.leaseDurationSeconds * 1000;
          expect(d.action.action).toBe(valid ? "wait" : "write");
          if (d.action.action === "wait")
            expect(d.action.validForMs).toBe(fields.leaseDurationSeconds * 1000 - elapsed);
        },
      ),
    );
  });

  test("property: a write always names me as holder, renews at wallNow and counts transitions correctly", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("", ME, "other", "third"),
        fc.nat(1000),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (holder, transitions, wallNow) => {
          const current = record({ holderIdentity: holder, leaseTransitions: transitions });
          // Observed long ago, so every holder's record has expired.
          const d = decide(current, { record: current, observedAt: 0 }, 10 ** 9, wallNow);
          expect(d.action.action).toBe("write");
          if (d.action.action !== "write") return;
          expect(d.action.record.holderIdentity).toBe(ME);
          expect(d.action.record.renewTime).toBe(wallNow);
          expect(d.action.takeover).toBe(holder !== ME);
          expect(d.action.record.leaseTransitions).toBe(holder === ME ? transitions : transitions + 1);
        },
      ),
    );
  });
});

describe("observe", () => {
  test("keeps the earlier observation for an identical record and restarts it for any change", () => {
    const base = record();
    const first = observe(undefined, base, 10);
    expect(observe(first, { ...base }, 50)).toBe(first);
    for (const change of [
      { holderIdentity: "x" },
      { renewTime: 1 },
      { acquireTime: 1 },
      { leaseTransitions: 99 },
      { leaseDurationSeconds: 1 },
    ]) {
      expect(observe(first, { ...base, ...change }, 50).observedAt).toBe(50);
    }
  });
});

describe("MicroTime", () => {
  test("formats with six fractional digits and parses back to the same millisecond", () => {
    const ms = Date.UTC(2026, 10, 22, 14, 11, 28, 728);
    expect(formatMicroTime(ms)).toBe("2026-11-22T14:11:28.728000Z");
    expect(parseMicroTime(formatMicroTime(ms))).toBe(ms);
    expect(parseMicroTime("2026-11-22T14:11:28Z")).toBe(Date.UTC(2026, 10, 22, 14, 11, 28));
    expect(parseMicroTime("")).toBeUndefined();
    expect(parseMicroTime(null)).toBeUndefined();
    expect(parseMicroTime("yesterday")).toBeUndefined();
  });
});
