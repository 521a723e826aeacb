import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type IdentityPatch, MAX_IDENTITIES_PER_REQUEST, planIdentityPatches } from "../../src/cloud/identity-patch.ts";

const id = (name: string) =>
  `/subscriptions/sub/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

/** What ARM would hold after applying the patches in order (keys compared case-insensitively). */
function apply(type: string | undefined, ids: string[], patches: IdentityPatch[]): { type: string; ids: Set<string> } {
  let current = { type: type ?? "None", ids: new Set(ids.map((x) => x.toLowerCase())) };
  for (const patch of patches) {
    const next = new Set(current.ids);
    if (patch.userAssignedIdentities === null) next.clear();
    else
      for (const [key, value] of Object.entries(patch.userAssignedIdentities)) {
        if (value === null) next.delete(key.toLowerCase());
        else next.add(key.toLowerCase());
      }
    current = { type: patch.type, ids: next };
  }
  return current;
}

describe("planIdentityPatches", () => {
  test("adding to a resource without identities sends type UserAssigned and only the new ID", () => {
    expect(planIdentityPatches({ type: undefined, userAssignedIds: [] }, { add: [id("a")], remove: [] })).toEqual([
      { type: "UserAssigned", userAssignedIdentities: { [id("a")]: {} } },
    ]);
    expect(planIdentityPatches({ type: "None", userAssignedIds: [] }, { add: [id("a")], remove: [] })).toEqual([
      { type: "UserAssigned", userAssignedIdentities: { [id("a")]: {} } },
    ]);
  });

  test("a system-assigned identity is kept: SystemAssigned, UserAssigned", () => {
    expect(
      planIdentityPatches({ type: "SystemAssigned", userAssignedIds: [] }, { add: [id("a")], remove: [] }),
    ).toEqual([{ type: "SystemAssigned, UserAssigned", userAssignedIdentities: { [id("a")]: {} } }]);
  });

  test("only deltas: existing IDs (any case) are not resent, removals are null with ARM's spelling", () => {
    const patches = planIdentityPatches(
      { type: "UserAssigned", userAssignedIds: [id("Keep"), id("Gone")] },
      { add: [id("keep").toUpperCase(), id("new")], remove: [id("gone"), id("never-there")] },
    );
    expect(patches).toEqual([
      { type: "UserAssigned", userAssignedIdentities: { [id("new")]: {}, [id("Gone")]: null } },
    ]);
  });

  test("an ID in both lists is kept (add wins)", () => {
    expect(
      planIdentityPatches({ type: "UserAssigned", userAssignedIds: [id("a")] }, { add: [id("a")], remove: [id("A")] }),
    ).toEqual([]);
    expect(
      planIdentityPatches({ type: "UserAssigned", userAssignedIds: [] }, { add: [id("b")], remove: [id("b")] }),
    ).toEqual([{ type: "UserAssigned", userAssignedIdentities: { [id("b")]: {} } }]);
  });

  test("nothing to change gives no PATCH", () => {
    expect(planIdentityPatches({ type: "UserAssigned", userAssignedIds: [id("a")] }, { add: [], remove: [] })).toEqual(
      [],
    );
    expect(
      planIdentityPatches({ type: "SystemAssigned", userAssignedIds: [] }, { add: [], remove: [id("x")] }),
    ).toEqual([]);
  });

  test("removing the last user identity sends None, or SystemAssigned when the resource has one", () => {
    expect(
      planIdentityPatches(
        { type: "UserAssigned", userAssignedIds: [id("a"), id("b")] },
        { add: [], remove: [id("a"), id("b")] },
      ),
    ).toEqual([{ type: "None", userAssignedIdentities: null }]);
    expect(
      planIdentityPatches(
        { type: "SystemAssigned, UserAssigned", userAssignedIds: [id("a")] },
        { add: [], remove: [id("a")] },
      ),
    ).toEqual([{ type: "SystemAssigned", userAssignedIdentities: null }]);
  });

  test("more than 150 changes are split into chunks of at most 150, additions first", () => {
    const add = Array.from({ length: 151 }, (_, i) => id(`add-${i}`));
    const remove = [id("old-1"), id("old-2")];
    const patches = planIdentityPatches(
      { type: "UserAssigned", userAssignedIds: [id("old-1"), id("old-2"), id("stay")] },
      { add, remove },
    );
    expect(patches.map((p) => Object.keys(p.userAssignedIdentities ?? {}).length)).toEqual([150, 3]);
    expect(Object.values(patches[0]!.userAssignedIdentities ?? {}).every((value) => value !== null)).toBe(true);
    expect(patches[1]!.userAssignedIdentities).toEqual({
      [id("add-150")]: {},
      [id("old-1")]: null,
      [id("old-2")]: null,
    });
  });

  test("removing everything is one request whatever the count", () => {
    const many = Array.from({ length: 400 }, (_, i) => id(`x-${i}`));
    expect(
      planIdentityPatches({ type: "UserAssigned", userAssignedIds: many }, { add: [], remove: many }),
    ).toHaveLength(1);
  });

  test("property: applying the patches yields current + add − remove (add wins), each chunk within the limit, and no chunk empties a UserAssigned resource", () => {
    const names = fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `n${i}`));
    const mixedCase = (name: string, upper: boolean) => (upper ? id(name).toUpperCase() : id(name));
    const ids = fc.array(
      fc.tuple(names, fc.boolean()).map(([n, u]) => mixedCase(n, u)),
      { maxLength: 10 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(undefined, "None", "UserAssigned", "SystemAssigned", "SystemAssigned, UserAssigned"),
        ids,
        ids,
        ids,
        fc.integer({ min: 1, max: 4 }),
        (type, existingRaw, add, remove, limit) => {
          const existing = [...new Map(existingRaw.map((x) => [x.toLowerCase(), x])).values()];
          const patches = planIdentityPatches({ type, userAssignedIds: existing }, { add, remove }, limit);
          const expected = new Set(existing.map((x) => x.toLowerCase()));
          for (const x of remove) expected.delete(x.toLowerCase());
          for (const x of add) expected.add(x.toLowerCase());
          const result = apply(type, existing, patches);
          expect([...result.ids].sort()).toEqual([...expected].sort());
          const changed = expected.size !== existing.length || existing.some((x) => !expected.has(x.toLowerCase()));
          expect(patches.length > 0).toBe(changed);
          const hadSystem = type?.includes("SystemAssigned") ?? false;
          let state: { type: string; ids: Set<string> } = {
            type: type ?? "None",
            ids: new Set(existing.map((x) => x.toLowerCase())),
          };
          for (const patch of patches) {
            expect(Object.keys(patch.userAssignedIdentities ?? {}).length).toBeLessThanOrEqual(limit);
            expect(patch.type.includes("SystemAssigned")).toBe(hadSystem);
            state = apply(state.type, [...state.ids], [patch]);
            if (patch.type.includes("UserAssigned")) expect(state.ids.size).toBeGreaterThan(0);
          }
        },
      ),
    );
  });

  test("the default limit is ARM's 150", () => {
    expect(MAX_IDENTITIES_PER_REQUEST).toBe(150);
  });
});
