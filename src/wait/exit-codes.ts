// The exit codes of `pod-identity wait`, one per outcome, so an init container's or probe's status
// says what went wrong without reading its log. Help lists them from here.

export const waitExitCodes = {
  ready: 0,
  notActive: 1,
  badFlags: 2,
  tokenFailed: 3,
  wrongIdentity: 4,
} as const;

export type WaitExitCode = (typeof waitExitCodes)[keyof typeof waitExitCodes];

export const waitExitCodeMeanings: readonly (readonly [WaitExitCode, string])[] = [
  [waitExitCodes.ready, "NMI is Active (and, with --token, a token naming the expected identity was issued)"],
  [waitExitCodes.notActive, "NMI's /healthz did not answer Active before --timeout"],
  [waitExitCodes.badFlags, "bad flags"],
  [waitExitCodes.tokenFailed, "the token request failed (a final error such as 400/403, or no token before --timeout)"],
  [waitExitCodes.wrongIdentity, "the token's claims name another identity than --expect-client-id/--expect-object-id"],
];
