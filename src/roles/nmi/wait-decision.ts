// How long a token request may wait for its assignment, with the original's budget (§5.7) but measured
// in time rather than counted polls: a request returns as soon as an event makes the identity usable.
//
// The original polled every --find-identity-retry-interval: while no matching record was in Created it
// gave up after --retry-attempts-for-created polls; once one was Created it allowed up to created +
// assigned polls in total. Here the same limits are deadlines from the request's start.
export interface WaitBudget {
  retryAttemptsForCreated: number;
  retryAttemptsForAssigned: number;
  findIdentityRetryIntervalMs: number;
}

export type WaitPhase = "wait-created" | "wait-assigned";

export type WaitDecision = { kind: "wait"; deadlineMs: number } | { kind: "give-up"; message: string };

export function waitDeadline(phase: WaitPhase, startedAtMs: number, budget: WaitBudget): number {
  const attempts =
    phase === "wait-created"
      ? budget.retryAttemptsForCreated
      : budget.retryAttemptsForCreated + budget.retryAttemptsForAssigned;
  return startedAtMs + attempts * budget.findIdentityRetryIntervalMs;
}

/** The original's error text (the request's 404 / 503 body) for a wait that ran out. */
export function giveUpMessage(phase: WaitPhase, podNamespace: string, podName: string, budget: WaitBudget): string {
  const seconds = budget.findIdentityRetryIntervalMs / 1000;
  const [state, attempts] =
    phase === "wait-created"
      ? ["CREATED", budget.retryAttemptsForCreated]
      : ["ASSIGNED", budget.retryAttemptsForCreated + budget.retryAttemptsForAssigned];
  return `getting assigned identities for pod ${podNamespace}/${podName} in ${state} state failed after ${attempts} attempts, retry duration [${seconds}]s, error: <nil>. Check MIC pod logs for identity assignment errors`;
}

export function decideWait(
  phase: WaitPhase,
  startedAtMs: number,
  nowMs: number,
  budget: WaitBudget,
  pod: { namespace: string; name: string },
): WaitDecision {
  const deadlineMs = waitDeadline(phase, startedAtMs, budget);
  if (nowMs >= deadlineMs) return { kind: "give-up", message: giveUpMessage(phase, pod.namespace, pod.name, budget) };
  return { kind: "wait", deadlineMs };
}
