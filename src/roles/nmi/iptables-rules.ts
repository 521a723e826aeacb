// The interception rules NMI keeps in the nat table, as pure data: what `iptables -t nat -S aad-metadata`
// must print for a config, and which iptables calls turn what it does print into that.
export const NAT_TABLE = "nat";
export const CHAIN = "aad-metadata";
export const JUMP_FROM = "PREROUTING";
/** Logged (as the original does) whenever the chain is rewritten. */
export const REFLUSH_MESSAGE = `flushing iptables to add ${CHAIN} custom chains`;

export interface InterceptionTarget {
  /** IMDS address and port matched by the DNAT rule (--metadata-ip / --metadata-port). */
  metadataIp: string;
  metadataPort: number;
  /** Where matched traffic is sent: the NMI listener. */
  targetIp: string;
  targetPort: number;
}

/**
 * The DNAT target for a listen address. A specific non-loopback address is targeted directly (no sysctl
 * needed). Loopback and the wildcard target 127.0.0.1, as the original does; that only reaches the
 * listener with route_localnet=1, which the shell sets and verifies (see `needsRouteLocalnet`).
 */
export function dnatTargetIp(listenAddress: string): string {
  if (listenAddress === "0.0.0.0" || listenAddress === "" || listenAddress.startsWith("127.")) return "127.0.0.1";
  return listenAddress;
}

export function needsRouteLocalnet(targetIp: string): boolean {
  return targetIp.startsWith("127.");
}

/** The rule arguments (after `-A aad-metadata`), in the order iptables lists them. */
export function expectedRules(t: InterceptionTarget): string[][] {
  return [
    [
      "!",
      "-s",
      "127.0.0.1/32",
      "-d",
      `${t.metadataIp}/32`,
      "-p",
      "tcp",
      "-m",
      "tcp",
      "--dport",
      String(t.metadataPort),
      "-j",
      "DNAT",
      "--to-destination",
      `${t.targetIp}:${t.targetPort}`,
    ],
    ["-j", "RETURN"],
  ];
}

/** Exactly what `iptables -t nat -S aad-metadata` prints when the chain is right. */
export function expectedChainLines(t: InterceptionTarget): string[] {
  return [`-N ${CHAIN}`, ...expectedRules(t).map((rule) => `-A ${CHAIN} ${rule.join(" ")}`)];
}

/** Splits `-S` output into comparable lines: trimmed, inner whitespace collapsed, blanks dropped. */
export function normaliseListing(output: string): string[] {
  return output
    .split("\n")
    .map((line) => line.trim().replace(/\s+/g, " "))
    .filter((line) => line.length > 0);
}

export type ChainAction =
  | { kind: "create-chain" }
  | { kind: "flush-chain" }
  | { kind: "append-rule"; rule: string[] }
  | { kind: "insert-jump" };

export interface ObservedState {
  /** `-S aad-metadata` output, or null when the chain does not exist. */
  chainListing: string | null;
  /** Whether PREROUTING jumps to the chain (`-C PREROUTING -j aad-metadata`). */
  jumpPresent: boolean;
}

export interface ChainPlan {
  actions: ChainAction[];
  /** True when the chain's contents differed and are rewritten (the original logs REFLUSH_MESSAGE). */
  rewritesChain: boolean;
}

/** Actions that bring the observed state to the expected one; empty when nothing differs. */
export function planChain(observed: ObservedState, t: InterceptionTarget): ChainPlan {
  const actions: ChainAction[] = [];
  let rewritesChain = false;
  const expected = expectedChainLines(t);
  if (observed.chainListing === null) {
    actions.push({ kind: "create-chain" });
    rewritesChain = true;
  } else {
    const actual = normaliseListing(observed.chainListing);
    rewritesChain = actual.length !== expected.length || actual.some((line, i) => line !== expected[i]);
    if (rewritesChain) actions.push({ kind: "flush-chain" });
  }
  if (rewritesChain) for (const rule of expectedRules(t)) actions.push({ kind: "append-rule", rule });
  // The jump goes to position 1 only when absent; an existing jump elsewhere is left where it is.
  if (!observed.jumpPresent) actions.push({ kind: "insert-jump" });
  return { actions, rewritesChain };
}

/** The iptables arguments (after `-w 5 -t nat`) for one action. */
export function actionArgs(action: ChainAction): string[] {
  switch (action.kind) {
    case "create-chain":
      return ["-N", CHAIN];
    case "flush-chain":
      return ["-F", CHAIN];
    case "append-rule":
      return ["-A", CHAIN, ...action.rule];
    case "insert-jump":
      return ["-I", JUMP_FROM, "1", "-j", CHAIN];
  }
}
