// The identity PATCH bodies for one VM / VMSS: only the deltas, at most 150 identities per request.
// Pure: the ARM client GETs, calls planIdentityPatches, then sends the bodies one after another.

export type IdentityType = "None" | "SystemAssigned" | "UserAssigned" | "SystemAssigned, UserAssigned";

/** ARM rejects more: "User Assigned Identities Number 'N' Assign exceed limit '150' in one request". */
export const MAX_IDENTITIES_PER_REQUEST = 150;

export interface CurrentIdentity {
  /** identity.type as ARM returned it (any case), undefined when the resource has no identity block. */
  type: string | undefined;
  /** Keys of identity.userAssignedIdentities, as ARM spells them. */
  userAssignedIds: string[];
}

export interface IdentityChange {
  add: string[];
  remove: string[];
}

/** The `identity` of a PATCH body: `null` values remove, `{}` values add. */
export interface IdentityPatch {
  type: IdentityType;
  userAssignedIdentities: Record<string, Record<string, never> | null> | null;
}

export function hasSystemAssigned(type: string | undefined): boolean {
  return type !== undefined && /systemassigned/i.test(type);
}

/**
 * The PATCH bodies that turn `current` into current + add − remove.
 * - IDs compare case-insensitively; an ID in both lists is kept (add wins).
 * - Only deltas are sent; no body at all when nothing changes.
 * - Removing the last user identity sends type SystemAssigned (if the resource has one) or None, with
 *   userAssignedIdentities null, in one request whatever the count.
 * - Otherwise type is UserAssigned or "SystemAssigned, UserAssigned"; additions go first so that no
 *   intermediate chunk leaves a UserAssigned resource without user identities.
 */
export function planIdentityPatches(
  current: CurrentIdentity,
  change: IdentityChange,
  maxPerRequest: number = MAX_IDENTITIES_PER_REQUEST,
): IdentityPatch[] {
  if (maxPerRequest < 1) throw new RangeError("maxPerRequest must be at least 1");
  const existing = new Map(current.userAssignedIds.map((id) => [id.toLowerCase(), id]));
  const adding = new Map<string, string>();
  for (const id of change.add) {
    const key = id.toLowerCase();
    if (!existing.has(key) && !adding.has(key)) adding.set(key, id);
  }
  const kept = new Set(change.add.map((id) => id.toLowerCase()));
  const removing = new Map<string, string>();
  for (const id of change.remove) {
    const key = id.toLowerCase();
    const present = existing.get(key);
    // Remove with ARM's own spelling of the key.
    if (present !== undefined && !kept.has(key)) removing.set(key, present);
  }
  if (adding.size === 0 && removing.size === 0) return [];

  const withSystem = hasSystemAssigned(current.type);
  const remaining = existing.size - removing.size + adding.size;
  if (remaining === 0) {
    return [{ type: withSystem ? "SystemAssigned" : "None", userAssignedIdentities: null }];
  }

  const type: IdentityType = withSystem ? "SystemAssigned, UserAssigned" : "UserAssigned";
  const deltas: [string, Record<string, never> | null][] = [
    ...[...adding.values()].map((id): [string, Record<string, never>] => [id, {}]),
    ...[...removing.values()].map((id): [string, null] => [id, null]),
  ];
  const patches: IdentityPatch[] = [];
  for (let start = 0; start < deltas.length; start += maxPerRequest) {
    patches.push({ type, userAssignedIdentities: Object.fromEntries(deltas.slice(start, start + maxPerRequest)) });
  }
  return patches;
}
