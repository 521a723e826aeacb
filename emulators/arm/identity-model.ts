// The identity block of a VM / VMSS and how a PATCH changes it, as ARM (Microsoft.Compute) does:
// `userAssignedIdentities` in a PATCH is a delta ({} adds, null removes), `type` is the resulting
// type, and a type without UserAssigned drops every user-assigned identity.

export type IdentityType = "None" | "SystemAssigned" | "UserAssigned" | "SystemAssigned, UserAssigned";

export interface UserAssignedRef {
  /** The ID as the caller spelled it when assigning (ARM echoes that spelling back). */
  resourceId: string;
  clientId: string;
  principalId: string;
  /** Epoch ms when the assignment completed (IMDS propagation delay is measured from here). */
  assignedAt: number;
}

export interface SystemAssignedRef {
  principalId: string;
  /** ARM does not show it, but IMDS puts it in `client_id` and AAD in `appid`. */
  clientId: string;
  assignedAt: number;
}

export interface IdentityState {
  system?: SystemAssignedRef;
  /** Keyed by lower-cased resource ID. */
  user: Map<string, UserAssignedRef>;
}

export function identityType(state: IdentityState): IdentityType {
  const hasUser = state.user.size > 0;
  if (state.system && hasUser) return "SystemAssigned, UserAssigned";
  if (state.system) return "SystemAssigned";
  if (hasUser) return "UserAssigned";
  return "None";
}

/** Parses ARM's type string the way ARM does: case-insensitive, spaces around the comma optional. */
export function parseIdentityType(text: string): IdentityType | undefined {
  const parts = text
    .split(",")
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p !== "");
  const system = parts.includes("systemassigned");
  const user = parts.includes("userassigned");
  const none = parts.includes("none");
  if (parts.some((p) => p !== "systemassigned" && p !== "userassigned" && p !== "none")) return undefined;
  if (none && (system || user)) return undefined;
  if (system && user) return "SystemAssigned, UserAssigned";
  if (system) return "SystemAssigned";
  if (user) return "UserAssigned";
  if (none) return "None";
  return undefined;
}

export interface IdentityDelta {
  type: IdentityType;
  /** lower-cased ID → the caller's spelling (add) or null (remove). */
  changes: Map<string, { spelling: string; add: boolean }>;
}

export type DeltaProblem = { kind: "typeNeedsUserIdentities" } | { kind: "userIdentitiesWithoutUserType" };

/** What the identity will look like once the PATCH's delta is applied (without catalogue lookups). */
export function resultingUserIds(current: IdentityState, delta: IdentityDelta): Map<string, string> {
  const result = new Map<string, string>();
  if (!delta.type.includes("UserAssigned")) return result;
  for (const [key, ref] of current.user) result.set(key, ref.resourceId);
  for (const [key, change] of delta.changes) {
    if (change.add) result.set(key, result.get(key) ?? change.spelling);
    else result.delete(key);
  }
  return result;
}

/** Checks a delta against the current state for the rules that do not depend on the catalogue. */
export function deltaProblem(current: IdentityState, delta: IdentityDelta): DeltaProblem | undefined {
  const adds = [...delta.changes.values()].some((c) => c.add);
  if (!delta.type.includes("UserAssigned") && adds) return { kind: "userIdentitiesWithoutUserType" };
  if (delta.type.includes("UserAssigned") && resultingUserIds(current, delta).size === 0) {
    return { kind: "typeNeedsUserIdentities" };
  }
  return undefined;
}
