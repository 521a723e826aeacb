// Which Secrets NMI keeps watching: only those the service-principal identities it knows of (types 1
// and 2) reference, each while it is in use. Pure.
import { type AzureIdentity, IdentityType } from "../../../kube/crds.ts";
import { identitySecret } from "../identity-secret.ts";

export const secretKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** The Secret a type 1/2 identity reads its credential from ("namespace/name"). */
export function secretKeyOf(identity: AzureIdentity): string | undefined {
  const { type } = identity.spec;
  if (type !== IdentityType.ServicePrincipal && type !== IdentityType.ServicePrincipalCertificate) return undefined;
  const secret = identitySecret(identity);
  return secret ? secretKey(secret.namespace, secret.name) : undefined;
}

export function referencedSecrets(identities: Iterable<AzureIdentity | null | undefined>): Set<string> {
  const keys = new Set<string>();
  for (const identity of identities) {
    const key = identity ? secretKeyOf(identity) : undefined;
    if (key) keys.add(key);
  }
  return keys;
}

export interface WatchUse {
  key: string;
  lastUsedMs: number;
}

/**
 * The watches to stop: those no identity references any more (when the references are known), and those
 * unused for `idleMs` whatever references them (the next request starts a fresh one).
 */
export function watchesToStop(
  watches: Iterable<WatchUse>,
  referenced: ReadonlySet<string> | undefined,
  nowMs: number,
  idleMs: number,
): string[] {
  const stop: string[] = [];
  for (const watch of watches) {
    const unreferenced = referenced !== undefined && !referenced.has(watch.key);
    if (unreferenced || nowMs - watch.lastUsedMs >= idleMs) stop.push(watch.key);
  }
  return stop;
}
