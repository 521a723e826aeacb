// How a `wait` run ended, its exit code and the one line that says so. Pure, so every outcome's code
// and wording is unit-tested without servers.
import { formatGoDuration } from "../config/go-duration.ts";
import type { TokenIdentity } from "./claims.ts";
import { type WaitExitCode, waitExitCodes } from "./exit-codes.ts";

export type WaitOutcome =
  /** NMI is Active; `token` is present when a token was requested and named the expected identity. */
  | { kind: "ready"; token?: { resource: string; identity: TokenIdentity | undefined } }
  | { kind: "not-active"; url: string; timeoutMs: number; lastObserved: string }
  | { kind: "token-final-error"; resource: string; observed: string }
  | { kind: "token-timeout"; resource: string; timeoutMs: number; lastObserved: string }
  | { kind: "wrong-identity"; resource: string; problems: readonly string[] };

export function exitCodeFor(outcome: WaitOutcome): WaitExitCode {
  switch (outcome.kind) {
    case "ready":
      return waitExitCodes.ready;
    case "not-active":
      return waitExitCodes.notActive;
    case "token-final-error":
    case "token-timeout":
      return waitExitCodes.tokenFailed;
    case "wrong-identity":
      return waitExitCodes.wrongIdentity;
  }
}

export interface OutputLine {
  stream: "stdout" | "stderr";
  text: string;
}

const prefix = "pod-identity wait";

export function describeIdentity(identity: TokenIdentity | undefined): string {
  if (identity === undefined) return "claims not readable (not a JWT)";
  return `client id ${identity.clientId ?? "(none)"}, object id ${identity.objectId ?? "(none)"}`;
}

/**
 * The closing line; undefined when there is nothing to add (plain readiness: "Active" was printed when
 * it happened). Never contains the token.
 */
export function outcomeLine(outcome: WaitOutcome): OutputLine | undefined {
  switch (outcome.kind) {
    case "ready":
      return outcome.token === undefined
        ? undefined
        : {
            stream: "stdout",
            text: `token for ${outcome.token.resource}: ${describeIdentity(outcome.token.identity)}`,
          };
    case "not-active":
      return {
        stream: "stderr",
        text: `${prefix}: NMI not Active at ${outcome.url} after ${formatGoDuration(outcome.timeoutMs)} (last: ${outcome.lastObserved})`,
      };
    case "token-final-error":
      return { stream: "stderr", text: `${prefix}: token request for ${outcome.resource} failed: ${outcome.observed}` };
    case "token-timeout":
      return {
        stream: "stderr",
        text: `${prefix}: no token for ${outcome.resource} after ${formatGoDuration(outcome.timeoutMs)} (last: ${outcome.lastObserved})`,
      };
    case "wrong-identity":
      return {
        stream: "stderr",
        text: `${prefix}: token for ${outcome.resource} names another identity: ${outcome.problems.join("; ")}`,
      };
  }
}
