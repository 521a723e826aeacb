import { describe, expect, test } from "bun:test";
import {
  afterIdentityFailure,
  afterSuccess,
  afterThrottle,
  afterTransientFailure,
  backoffDelay,
  initialRetryState,
  mayCall,
} from "../../src/roles/mic/retry-policy.ts";

const options = { baseMs: 1000, maxMs: 60_000 };

describe("retry policy", () => {
  test("backoff doubles per attempt, is capped, and jitter stays within [half, full]", () => {
    expect(backoffDelay(1, options, () => 1)).toBe(1000);
    expect(backoffDelay(3, options, () => 1)).toBe(4000);
    expect(backoffDelay(3, options, () => 0)).toBe(2000);
    expect(backoffDelay(40, options, () => 1)).toBe(60_000);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(4, options, Math.random);
      expect(d).toBeGreaterThanOrEqual(4000);
      expect(d).toBeLessThanOrEqual(8000);
    }
  });

  test("Retry-After forbids calls to the target until that time, and only extends", () => {
    let s = afterThrottle(initialRetryState(), 1000, 5000);
    expect(mayCall(s, 5999)).toBe(false);
    expect(mayCall(s, 6000)).toBe(true);
    s = afterThrottle(s, 2000, 1000);
    expect(s.notBefore).toBe(6000);
  });

  test("transient failures grow the delay; success resets the count", () => {
    let s = afterTransientFailure(initialRetryState(), 0, options, () => 1);
    expect(s.notBefore).toBe(1000);
    s = afterTransientFailure(s, 1000, options, () => 1);
    expect(s.notBefore).toBe(3000);
    expect(afterSuccess(s).failures).toBe(0);
  });

  test("a refused identity backs off on its own, attempt after attempt", () => {
    const first = afterIdentityFailure(
      undefined,
      0,
      { code: "LinkedAuthorizationFailed", message: "m" },
      options,
      () => 1,
    );
    const second = afterIdentityFailure(
      first,
      10,
      { code: "LinkedAuthorizationFailed", message: "m" },
      options,
      () => 1,
    );
    expect(first).toMatchObject({ attempts: 1, until: 1000, code: "LinkedAuthorizationFailed" });
    expect(second).toMatchObject({ attempts: 2, until: 2010 });
  });
});
