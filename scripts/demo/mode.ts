// How the demo stands for pods. As root with `ip` and `iptables`, each pod gets its own network
// namespace and sends a plain request to 169.254.169.254:80, which NMI's iptables rule redirects, as on
// a node. Otherwise pods are loopback source addresses sending straight to NMI's port.
import * as v from "valibot";

export type DemoMode = { kind: "netns" } | { kind: "loopback"; reason: string };

export interface ModeFacts {
  isRoot: boolean;
  /** Whether the demo can enter private namespaces (`unshare --net`). */
  canUnshare: boolean;
  missingTools: string[];
  /** --loopback asked for the loopback mode. */
  loopbackRequested: boolean;
}

export const NETNS_TOOLS = ["ip", "iptables"] as const;

export function chooseMode(facts: ModeFacts): DemoMode {
  if (facts.loopbackRequested) return { kind: "loopback", reason: "--loopback was given" };
  if (!facts.isRoot) return { kind: "loopback", reason: "not running as root" };
  if (facts.missingTools.length > 0)
    return { kind: "loopback", reason: `${facts.missingTools.join(" and ")} not found` };
  if (!facts.canUnshare) return { kind: "loopback", reason: "unshare cannot create a private network namespace" };
  return { kind: "netns" };
}

const MODE_ENV = "POD_IDENTITY_DEMO_MODE";
const modeSchema = v.union([
  v.object({ kind: v.literal("netns") }),
  v.object({ kind: v.literal("loopback"), reason: v.string() }),
]);

/** The mode as an environment entry, so the outer process's decision reaches the re-run inside unshare. */
export function modeEnv(mode: DemoMode): Record<string, string> {
  return { [MODE_ENV]: JSON.stringify(mode) };
}

export function modeFromEnv(env: Record<string, string | undefined>): DemoMode | undefined {
  const raw = env[MODE_ENV];
  if (raw === undefined) return undefined;
  try {
    const parsed = v.safeParse(modeSchema, JSON.parse(raw));
    return parsed.success ? parsed.output : undefined;
  } catch {
    return undefined;
  }
}
