// ArmIdentityPort over src/cloud's ARM identity client: typed ArmErrors become ArmPortError failures
// (the controller branches on `failure.kind`), every call is timed and counted, and nothing is sent
// once leadership has ended (the signal also cancels calls in flight).
import {
  ArmIdentityError,
  ArmNotFoundError,
  ArmResourceDeletingError,
  ArmThrottledError,
  ArmError as CloudArmError,
} from "../../../cloud/arm-errors.ts";
import type { ArmIdentityClient, ArmIdentityState } from "../../../cloud/arm-identity-client.ts";
import type { ArmTarget } from "../node-target.ts";
import {
  type ArmFailure,
  type ArmIdentityPort,
  ArmPortError,
  type IdentityDelta,
  type TargetIdentities,
} from "../ports.ts";
import type { ArmOperation, ArmResult, MicMetrics } from "./mic-metrics.ts";

/** Maps whatever the ARM client threw onto the controller's failure kinds. Pure. */
export function armFailureFromError(error: unknown): ArmFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ArmThrottledError) return { kind: "throttled", retryAfterMs: error.retryAfterMs, message };
  if (error instanceof ArmIdentityError) {
    return { kind: "identity", code: error.code, identityIds: [...error.identityIds], message };
  }
  if (error instanceof ArmNotFoundError) return { kind: "notFound", message };
  if (error instanceof ArmResourceDeletingError) return { kind: "deleting", message };
  if (error instanceof CloudArmError) return { kind: "other", statusCode: error.statusCode, message };
  return { kind: "other", message };
}

function resultOf(failure: ArmFailure | undefined): ArmResult {
  switch (failure?.kind) {
    case undefined:
      return "success";
    case "throttled":
      return "throttled";
    case "identity":
      return "identity_error";
    case "notFound":
      return "not_found";
    case "deleting":
      return "deleting";
    case "other":
      return "error";
  }
}

export interface ArmAdapterOptions {
  /** The current client (it is rebuilt when azure.json changes). */
  client: () => ArmIdentityClient;
  /** Aborted when leadership ends: no call starts after that and calls in flight are cancelled. */
  signal: AbortSignal;
  metrics: MicMetrics;
}

/** The port's view of ARM's identity block. Pure. */
export function targetIdentitiesOf(state: ArmIdentityState): TargetIdentities {
  return {
    userAssignedIdentities: Object.keys(state.userAssignedIdentities),
    type: state.type,
    provisioningState: state.provisioningState,
  };
}

/** Back to the client's shape, so a PATCH is built from what the worker read. Pure. */
export function armIdentityStateOf(identities: TargetIdentities): ArmIdentityState {
  const state: ArmIdentityState = {
    type: identities.type,
    userAssignedIdentities: Object.fromEntries(identities.userAssignedIdentities.map((id) => [id, {}])),
  };
  if (identities.provisioningState) state.provisioningState = identities.provisioningState;
  return state;
}

export function armIdentityPort(options: ArmAdapterOptions): ArmIdentityPort {
  const { signal, metrics } = options;

  async function call<T>(target: ArmTarget, op: "get" | "update", run: () => Promise<T>): Promise<T> {
    if (signal.aborted) throw new ArmPortError({ kind: "other", message: "no longer the leader" });
    const operation: ArmOperation = `${target.kind}_${op}`;
    const started = performance.now();
    try {
      const value = await run();
      metrics.observeArm(operation, (performance.now() - started) / 1000, "success");
      return value;
    } catch (error) {
      const failure = armFailureFromError(error);
      metrics.observeArm(operation, (performance.now() - started) / 1000, resultOf(failure));
      if (failure.kind === "throttled") metrics.throttled(target.name, failure.retryAfterMs / 1000);
      throw new ArmPortError(failure);
    }
  }

  return {
    getIdentity(target): Promise<TargetIdentities> {
      return call(target, "get", async () =>
        targetIdentitiesOf(await options.client().getIdentity(target, { signal })),
      );
    },
    updateIdentities(target, delta: IdentityDelta, current: TargetIdentities): Promise<TargetIdentities> {
      return call(target, "update", async () => {
        const result = await options
          .client()
          .updateIdentities(
            target,
            { add: delta.add, remove: delta.remove },
            { signal, current: armIdentityStateOf(current) },
          );
        return result.identity ? targetIdentitiesOf(result.identity) : current;
      });
    },
  };
}
