// Tags that tie a cached token to the objects behind it. The composition root invalidates the same tags
// when the informers report that one of those objects changed or went away.
import type { AzureAssignedIdentity, AzureIdentity } from "../../kube/crds.ts";
import { identitySecret } from "./identity-secret.ts";

export const identityTag = (namespace: string, name: string) => `identity:${namespace}/${name}`;
export const bindingTag = (namespace: string, name: string) => `binding:${namespace}/${name}`;
export const assignmentTag = (namespace: string, name: string) => `assignment:${namespace}/${name}`;
export const secretTag = (namespace: string, name: string) => `secret:${namespace}/${name}`;

export function cacheTagsFor(
  identity: AzureIdentity,
  record?: AzureAssignedIdentity,
  bindings: readonly { namespace: string; name: string }[] = [],
): string[] {
  const tags = [identityTag(identity.metadata.namespace ?? "", identity.metadata.name)];
  const secret = identitySecret(identity);
  if (secret) tags.push(secretTag(secret.namespace, secret.name));
  if (record) {
    tags.push(assignmentTag(record.metadata.namespace ?? "", record.metadata.name));
    const binding = record.spec.azureBindingRef;
    if (binding) tags.push(bindingTag(binding.metadata.namespace ?? "", binding.metadata.name));
  }
  for (const binding of bindings) tags.push(bindingTag(binding.namespace, binding.name));
  return tags;
}
