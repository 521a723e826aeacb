// Standard mode: which identity a calling pod gets, waiting (on assignment events, within the original's
// budget) while MIC creates and assigns it. Managed mode plugs a different IdentityResolver in.
import type { AzureAssignedIdentity, AzureIdentity } from "../../kube/crds.ts";
import { TupleMemo } from "../../support/tuple-memo.ts";
import { type AbortSource, type Evaluation, type WaitClock, waitForCondition, wallClock } from "./change-wait.ts";
import { type IdentityRequest, type Selection, type SelectionContext, selectIdentity } from "./identity-selection.ts";
import type { AssignedIdentitySource, PodInfo } from "./ports.ts";
import { decideWait, type WaitBudget } from "./wait-decision.ts";

export type Resolution =
  | {
      kind: "found";
      identity: AzureIdentity;
      record?: AzureAssignedIdentity;
      /** Managed mode: the bindings matched at request time (standard mode has them in the record). */
      bindings?: { namespace: string; name: string }[];
      waitedMs: number;
    }
  /** Not assigned (yet): 404, or 503 + Retry-After with --set-retry-after-header. */
  | { kind: "not-ready"; message: string; waitedMs: number }
  /** Waiting cannot help (e.g. namespaced rules forbid every match): 404. */
  | { kind: "not-found"; message: string; waitedMs: number }
  | { kind: "aborted"; waitedMs: number };

/** A resolution that found the identity. */
export type FoundIdentity = Extract<Resolution, { kind: "found" }>;

/** Answers synchronously when nothing needs waiting for (the common case), else with a promise. */
export type IdentityResolver = (
  pod: PodInfo,
  request: IdentityRequest,
  abort?: AbortSource,
) => Resolution | Promise<Resolution>;

export interface StandardResolverOptions {
  source: AssignedIdentitySource;
  budget: WaitBudget;
  forceNamespaced: boolean;
  /** With --set-retry-after-header the request is answered at once instead of held. */
  holdUntilAssigned: boolean;
  clock?: WaitClock;
}

/**
 * Pure: the immediate answer for a selection waiting cannot change. An Unassigned identity is "not ready"
 * (404, or 503 + Retry-After with --set-retry-after-header) only while another record of the pod is still
 * being assigned; otherwise, like every other refusal here, it is a plain 404.
 */
export function refusal(
  selection: Extract<Selection, { kind: "not-found" | "unassigned" }>,
  pod: Pick<PodInfo, "namespace" | "name">,
  waitedMs: number,
): Resolution {
  const who = `pod ${pod.namespace}/${pod.name}`;
  if (selection.kind === "unassigned") {
    const message = `no azure identity found for ${who}: its assignment of ${selection.identities.join(", ")} is Unassigned (the pod no longer uses it)`;
    return { kind: selection.otherCreated ? "not-ready" : "not-found", message, waitedMs };
  }
  if (selection.reason === "no-client-id") {
    const message = `no azure identity found for ${who}: AzureIdentity ${selection.identities.join(", ")} has no spec.clientID, so it cannot be told apart from the node's own identity`;
    return { kind: "not-found", message, waitedMs };
  }
  return {
    kind: "not-found",
    message: `no azure identity found for ${who} in its namespace (namespaced mode)`,
    waitedMs,
  };
}

export function standardIdentityResolver(options: StandardResolverOptions): IdentityResolver {
  const clock = options.clock ?? wallClock;
  // Most token requests find their identity at once: their selection context and their answer (the same
  // for every request that finds a record without waiting) are made once, not per request.
  const contexts = new TupleMemo<SelectionContext>(4096);
  const foundAtOnce = new WeakMap<AzureAssignedIdentity, Evaluation<Resolution>>();
  /** One look at the pod's records; `startedAtMs` is when waiting began (undefined: not waiting yet). */
  const evaluate = (pod: PodInfo, request: IdentityRequest, startedAtMs?: number): Evaluation<Resolution> => {
    const records = options.source.forPod(pod.namespace, pod.name);
    const context =
      contexts.get(pod.namespace) ??
      contexts.set({ podNamespace: pod.namespace, forceNamespaced: options.forceNamespaced }, pod.namespace);
    const selection = selectIdentity(records, request, context);
    // The clock is read only once there is a wait to time.
    const waitedMs = startedAtMs === undefined ? 0 : clock.now() - startedAtMs;
    if (selection.kind === "found") {
      const { identity, record } = selection;
      if (waitedMs !== 0) return { done: { kind: "found", identity, record, waitedMs } };
      let done = foundAtOnce.get(record);
      if (!done) {
        done = Object.freeze({ done: Object.freeze({ kind: "found", identity, record, waitedMs } as const) });
        foundAtOnce.set(record, done);
      }
      return done;
    }
    if (selection.kind === "not-found" || selection.kind === "unassigned") {
      return { done: refusal(selection, pod, waitedMs) };
    }
    const now = clock.now();
    const decision = decideWait(selection.kind, startedAtMs ?? now, now, options.budget, pod);
    if (decision.kind === "give-up") return { done: { kind: "not-ready", message: decision.message, waitedMs } };
    if (!options.holdUntilAssigned) {
      const state = selection.kind === "wait-created" ? "created" : "assigned";
      return {
        done: {
          kind: "not-ready",
          message: `identity for pod ${pod.namespace}/${pod.name} is not ${state} yet`,
          waitedMs,
        },
      };
    }
    return { waitUntilMs: decision.deadlineMs };
  };
  const waitForAssignment = async (pod: PodInfo, request: IdentityRequest, abort?: AbortSource) => {
    const startedAtMs = clock.now();
    const result = await waitForCondition(options.source, () => evaluate(pod, request, startedAtMs), abort, clock);
    return result === "aborted" ? ({ kind: "aborted", waitedMs: clock.now() - startedAtMs } as const) : result;
  };
  return (pod, request, abort) => {
    const first = evaluate(pod, request);
    return "done" in first ? first.done : waitForAssignment(pod, request, abort);
  };
}
