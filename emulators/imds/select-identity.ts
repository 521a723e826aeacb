// Which identity an IMDS token request gets, as Azure IMDS decides: an explicit client_id /
// object_id / msi_res_id (mi_res_id) picks that user-assigned identity; otherwise the
// system-assigned one; otherwise the only user-assigned one; several and none chosen is an error.
// Identities assigned less than `propagationDelayMs` ago are not visible yet.
import type { ImdsView } from "../arm/index.ts";

export interface SelectedIdentity {
  clientId: string;
  principalId: string;
  /** Set for user-assigned identities; becomes the token's xms_mirid. */
  resourceId?: string;
}

export interface IdentityQuery {
  clientId?: string;
  objectId?: string;
  resourceId?: string;
}

export type Selection =
  | { ok: true; identity: SelectedIdentity }
  | { ok: false; description: "Identity not found" | typeof MULTIPLE_IDENTITIES };

export const MULTIPLE_IDENTITIES =
  "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request";

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function selectIdentity(
  view: ImdsView,
  query: IdentityQuery,
  now: number,
  propagationDelayMs: number,
): Selection {
  const visible = (assignedAt: number) => assignedAt + propagationDelayMs <= now;
  const users = view.user.filter((u) => visible(u.assignedAt));
  const system = view.system && visible(view.system.assignedAt) ? view.system : undefined;
  const vmResourceId = view.resourceId;

  if (query.clientId || query.objectId || query.resourceId) {
    const match = users.find(
      (u) =>
        (query.clientId !== undefined && same(u.clientId, query.clientId)) ||
        (query.objectId !== undefined && same(u.principalId, query.objectId)) ||
        (query.resourceId !== undefined && same(u.resourceId, query.resourceId)),
    );
    if (match)
      return {
        ok: true,
        identity: { clientId: match.clientId, principalId: match.principalId, resourceId: match.resourceId },
      };
    // The system-assigned identity can be named explicitly too (by its client or object ID).
    if (
      system &&
      ((query.clientId !== undefined && same(system.clientId, query.clientId)) ||
        (query.objectId !== undefined && same(system.principalId, query.objectId)) ||
        (query.resourceId !== undefined && same(vmResourceId, query.resourceId)))
    ) {
      return { ok: true, identity: { clientId: system.clientId, principalId: system.principalId } };
    }
    return { ok: false, description: "Identity not found" };
  }
  if (system) return { ok: true, identity: { clientId: system.clientId, principalId: system.principalId } };
  const [only, ...more] = users;
  if (only && more.length === 0) {
    return {
      ok: true,
      identity: { clientId: only.clientId, principalId: only.principalId, resourceId: only.resourceId },
    };
  }
  if (only) return { ok: false, description: MULTIPLE_IDENTITIES };
  return { ok: false, description: "Identity not found" };
}
