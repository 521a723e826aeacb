// Managed mode hands out identities nobody assigns for it: when IMDS says a user-assigned identity is
// not on this node's VM / scale set, the pod's 403 says what to do about it. Other failures pass as they are.
import { type AzureIdentity, IdentityType } from "../../kube/crds.ts";
import { redactClientId } from "../nmi/imds-errors.ts";
import { UpstreamTokenError } from "../nmi/ports.ts";
import type { TokenContext, TokenProvider, TokenResult } from "../nmi/token-service.ts";

/** Pure: the 403's description for an identity IMDS does not know on this node. */
export function notAssignedHint(identity: AzureIdentity, imdsDescription: string): string {
  const id = identity.spec.resourceID || "<identity resource ID>";
  return `identity ${redactClientId(identity.spec.clientID)} is not assigned to this node's VM/VMSS (IMDS: ${imdsDescription}); in managed mode nothing assigns it for you: assign it to the node's scale set with az vmss identity assign --resource-group <node resource group> --name <scale set> --identities ${id} (az vm identity assign for an availability-set VM)`;
}

/** Pure: whether a failed token fetch means "assign this identity to the VM / scale set". */
export function isNotAssigned(identity: AzureIdentity, error: unknown): error is UpstreamTokenError {
  return (
    identity.spec.type === IdentityType.UserAssignedMSI && error instanceof UpstreamTokenError && error.identityNotFound
  );
}

export function withAssignHint(inner: TokenProvider): TokenProvider {
  return {
    forIdentity(identity, resource, context: TokenContext): TokenResult | Promise<TokenResult> {
      const withHint = (error: unknown): never => {
        if (isNotAssigned(identity, error)) {
          throw new UpstreamTokenError(error.status, notAssignedHint(identity, error.description));
        }
        throw error;
      };
      // A cached token stays synchronous; only a fetch can fail with "not assigned".
      const answer = inner.forIdentity(identity, resource, context);
      return answer instanceof Promise ? answer.catch(withHint) : answer;
    },
    forExceptedPod: (clientId, resource, context, resourceId) =>
      inner.forExceptedPod(clientId, resource, context, resourceId),
  };
}
