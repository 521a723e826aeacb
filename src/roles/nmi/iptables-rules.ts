// The chains NMI keeps, as pure data: what `iptables -t <table> -S <chain>` must print for a config, and
// which iptables calls turn what it does print into that. Two chains: the interception in the nat table
// and, when the DNAT target is loopback, the localnet guard in the filter table.
export const NAT_TABLE = "nat";
export const CHAIN = "aad-metadata";
export const JUMP_FROM = "PREROUTING";
/** Logged (as the original does) whenever the nat chain is rewritten. */
export const REFLUSH_MESSAGE = `flushing iptables to add ${CHAIN} custom chains`;

export const FILTER_TABLE = "filter";
export const GUARD_CHAIN = "aad-metadata-localnet";
export const GUARD_JUMP_FROM = "INPUT";

export interface InterceptionTarget {
  /** IMDS address and port matched by the DNAT rule (--metadata-ip / --metadata-port). */
  metadataIp: string;
  metadataPort: number;
  /** Where matched traffic is sent: the NMI listener. */
  targetIp: string;
  targetPort: number;
}

/** One custom chain: its table, its rules (arguments after `-A <chain>`) and the built-in chain jumping to it. */
export interface ChainSpec {
  table: string;
  chain: string;
  jumpFrom: string;
  rules: string[][];
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

/** The nat rule arguments (after `-A aad-metadata`), in the order iptables lists them. */
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

export function interceptionChain(t: InterceptionTarget): ChainSpec {
  return { table: NAT_TABLE, chain: CHAIN, jumpFrom: JUMP_FROM, rules: expectedRules(t) };
}

/**
 * kube-proxy's guard against CVE-2020-8558: with route_localnet=1 a neighbour could reach services bound
 * to 127.0.0.1 by sending to 127.0.0.0/8. Such packets are dropped unless they belong to a connection the
 * node made or DNATed itself (a pod's IMDS request DNATed to 127.0.0.1 has ctstate DNAT).
 */
export const LOCALNET_GUARD: ChainSpec = {
  table: FILTER_TABLE,
  chain: GUARD_CHAIN,
  jumpFrom: GUARD_JUMP_FROM,
  rules: [
    [
      "!",
      "-s",
      "127.0.0.0/8",
      "-d",
      "127.0.0.0/8",
      "-m",
      "conntrack",
      "!",
      "--ctstate",
      "RELATED,ESTABLISHED,DNAT",
      "-j",
      "DROP",
    ],
  ],
};

/**
 * The chains to keep, in the order they are reconciled: the interception first (it is what keeps pods
 * from IMDS), then the guard, which must be in place before route_localnet is turned on. The guard is
 * kept whenever NMI relies on route_localnet: after a restart NMI cannot tell whether it or kube-proxy
 * set the sysctl, and a guard identical to kube-proxy's is harmless.
 */
export function desiredChains(t: InterceptionTarget): ChainSpec[] {
  const chains = [interceptionChain(t)];
  if (needsRouteLocalnet(t.targetIp)) chains.push(LOCALNET_GUARD);
  return chains;
}

/** Every chain NMI may have installed (uninstall removes them all, whatever the current target). */
export const OWNED_CHAINS: readonly Pick<ChainSpec, "table" | "chain" | "jumpFrom">[] = [
  { table: NAT_TABLE, chain: CHAIN, jumpFrom: JUMP_FROM },
  { table: FILTER_TABLE, chain: GUARD_CHAIN, jumpFrom: GUARD_JUMP_FROM },
];

/** Exactly what `iptables -t <table> -S <chain>` prints when the chain is right. */
export function chainLines(spec: ChainSpec): string[] {
  return [`-N ${spec.chain}`, ...spec.rules.map((rule) => `-A ${spec.chain} ${rule.join(" ")}`)];
}

/** Exactly what `iptables -t nat -S aad-metadata` prints when the chain is right. */
export function expectedChainLines(t: InterceptionTarget): string[] {
  return chainLines(interceptionChain(t));
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
  /** `-S <chain>` output, or null when the chain does not exist. */
  chainListing: string | null;
  /** Whether the built-in chain jumps to it (`-C <jumpFrom> -j <chain>`). */
  jumpPresent: boolean;
}

export interface ChainPlan {
  actions: ChainAction[];
  /** True when the chain's contents differed and are rewritten (the original logs REFLUSH_MESSAGE). */
  rewritesChain: boolean;
}

/** Actions that bring the observed state to the expected one; empty when nothing differs. */
export function planChain(observed: ObservedState, spec: ChainSpec): ChainPlan {
  const actions: ChainAction[] = [];
  let rewritesChain = false;
  const expected = chainLines(spec);
  if (observed.chainListing === null) {
    actions.push({ kind: "create-chain" });
    rewritesChain = true;
  } else {
    const actual = normaliseListing(observed.chainListing);
    rewritesChain = actual.length !== expected.length || actual.some((line, i) => line !== expected[i]);
    if (rewritesChain) actions.push({ kind: "flush-chain" });
  }
  if (rewritesChain) for (const rule of spec.rules) actions.push({ kind: "append-rule", rule });
  // The jump goes to position 1 only when absent; an existing jump elsewhere is left where it is.
  if (!observed.jumpPresent) actions.push({ kind: "insert-jump" });
  return { actions, rewritesChain };
}

/** The iptables arguments (after `-w 5 -t <table>`) for one action on a chain. */
export function actionArgs(action: ChainAction, spec: Pick<ChainSpec, "chain" | "jumpFrom">): string[] {
  switch (action.kind) {
    case "create-chain":
      return ["-N", spec.chain];
    case "flush-chain":
      return ["-F", spec.chain];
    case "append-rule":
      return ["-A", spec.chain, ...action.rule];
    case "insert-jump":
      return ["-I", spec.jumpFrom, "1", "-j", spec.chain];
  }
}
