import { describe, expect, test } from "bun:test";
import { decideWait, waitDeadline } from "../../src/roles/nmi/wait-decision.ts";

const budget = { retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, findIdentityRetryIntervalMs: 5000 };
const pod = { namespace: "ns", name: "p" };

describe("wait budget", () => {
  test("with no record yet the deadline is created-attempts × interval (80 s by default)", () => {
    expect(waitDeadline("wait-created", 1000, budget)).toBe(1000 + 80_000);
  });

  test("with a Created record the deadline is (created + assigned) × interval (100 s by default)", () => {
    expect(waitDeadline("wait-assigned", 1000, budget)).toBe(1000 + 100_000);
  });

  test("before the deadline the decision is to wait until it", () => {
    expect(decideWait("wait-created", 0, 79_999, budget, pod)).toEqual({ kind: "wait", deadlineMs: 80_000 });
  });

  test("at the created deadline a request still without a record gives up with the original's text", () => {
    expect(decideWait("wait-created", 0, 80_000, budget, pod)).toEqual({
      kind: "give-up",
      message:
        "getting assigned identities for pod ns/p in CREATED state failed after 16 attempts, retry duration [5]s, error: <nil>. Check MIC pod logs for identity assignment errors",
    });
  });

  test("a Created record extends the wait past the created deadline", () => {
    expect(decideWait("wait-assigned", 0, 80_000, budget, pod).kind).toBe("wait");
    const last = decideWait("wait-assigned", 0, 100_000, budget, pod);
    expect(last.kind === "give-up" && last.message).toContain("in ASSIGNED state failed after 20 attempts");
  });

  test("zero attempts give up at once", () => {
    const zero = { retryAttemptsForCreated: 0, retryAttemptsForAssigned: 0, findIdentityRetryIntervalMs: 5000 };
    expect(decideWait("wait-created", 10, 10, zero, pod).kind).toBe("give-up");
  });
});
