// Which iptables binary NMI runs, as a pure decision. Debian images carry both iptables-legacy and
// iptables-nft; rules written with the one the node does not use still work but hide from the node's
// tools and from kube-proxy's view. Like Kubernetes' iptables-wrapper, follow the node: kubelet's hint
// chains first, then whichever backend holds more rules (kube-proxy's KUBE- chains), nft on a tie.
import { dirname } from "node:path";

export type IptablesCommand = "iptables" | "iptables-legacy" | "iptables-nft";

/** The binaries a choice between the two backends needs. */
export const VARIANT_BINARIES = ["iptables-legacy", "iptables-nft", "iptables-legacy-save", "iptables-nft-save"];

/** Chains kubelet (1.17+) creates in the mangle table of the backend it uses. */
const KUBELET_HINT = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)\s/m;

/** What `iptables-<variant>-save` gave: ok (exit 0) and its output. */
export interface SaveOutcome {
  ok: boolean;
  output: string;
}

export interface BackendObservation {
  /** See `variantsInstalled`. */
  variantsInstalled: boolean;
  legacy?: SaveOutcome;
  nft?: SaveOutcome;
}

export interface BackendChoice {
  command: IptablesCommand;
  reason: string;
  /** Rules each backend listed; null when it was not asked or could not list. */
  legacyRules: number | null;
  nftRules: number | null;
}

/**
 * Whether the variants can be chosen between: all installed, and beside the `iptables` on PATH when
 * there is one. An `iptables` earlier on PATH without variants next to it is a deliberate override
 * (a wrapper, a test stub) and is used as it is.
 */
export function variantsInstalled(iptablesPath: string | null, variantPaths: readonly (string | null)[]): boolean {
  if (variantPaths.some((path) => path === null)) return false;
  if (iptablesPath === null) return true;
  return variantPaths.every((path) => path !== null && dirname(path) === dirname(iptablesPath));
}

/** Rules in an iptables-save listing (`-A ...` lines; chain declarations and comments are not rules). */
export function countRules(save: string): number {
  return save.split("\n").filter((line) => line.startsWith("-")).length;
}

export function hasKubeletHint(save: string): boolean {
  return KUBELET_HINT.test(save);
}

export function chooseBackend(observed: BackendObservation): BackendChoice {
  const plain = (reason: string): BackendChoice => ({ command: "iptables", reason, legacyRules: null, nftRules: null });
  if (!observed.variantsInstalled) return plain("iptables-legacy / iptables-nft not installed beside iptables");
  const legacy = observed.legacy?.ok ? observed.legacy.output : null;
  const nft = observed.nft?.ok ? observed.nft.output : null;
  const counts = {
    legacyRules: legacy === null ? null : countRules(legacy),
    nftRules: nft === null ? null : countRules(nft),
  };
  if (legacy === null && nft === null) return plain("neither iptables-legacy-save nor iptables-nft-save could list");
  if (legacy === null) return { command: "iptables-nft", reason: "only nft could list rules", ...counts };
  if (nft === null) return { command: "iptables-legacy", reason: "only legacy could list rules", ...counts };
  if (hasKubeletHint(nft)) return { command: "iptables-nft", reason: "kubelet's hint chain is in nft", ...counts };
  if (hasKubeletHint(legacy))
    return { command: "iptables-legacy", reason: "kubelet's hint chain is in legacy", ...counts };
  if ((counts.legacyRules ?? 0) > (counts.nftRules ?? 0)) {
    return { command: "iptables-legacy", reason: "legacy holds more rules", ...counts };
  }
  return { command: "iptables-nft", reason: "nft holds as many rules or more", ...counts };
}
