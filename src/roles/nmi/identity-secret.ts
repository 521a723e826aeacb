// Where an AzureIdentity keeps its service-principal credential: spec.clientPassword, a Secret in the
// namespace it names, else in the identity's own namespace ("default" for an identity without one). One
// answer for the reader, the watch list and the cache tags, so they always name the same Secret. Pure.
import type { AzureIdentity } from "../../kube/crds.ts";

export interface SecretRef {
  namespace: string;
  name: string;
}

/** The Secret the identity's clientPassword points at; undefined when it names none. */
export function identitySecret(identity: AzureIdentity): SecretRef | undefined {
  const ref = identity.spec.clientPassword;
  if (!ref?.name) return undefined;
  return { namespace: ref.namespace || identity.metadata.namespace || "default", name: ref.name };
}
