import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  type AssignmentKey,
  hashedAssignedIdentityName,
  isDnsSubdomain,
  MAX_NAME_LENGTH,
  nameAssignments,
  originalAssignedIdentityName,
} from "../../src/roles/mic/assigned-identity-name.ts";

const key = (podNamespace: string, podName: string, identityNamespace: string, identityName: string) => ({
  podNamespace,
  podName,
  identityNamespace,
  identityName,
  recordNamespace: "default",
});

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const keyArb = fc.record({
  podNamespace: label,
  podName: label,
  identityNamespace: label,
  identityName: label,
  recordNamespace: fc.constantFrom("default", "team-a"),
});

describe("AzureAssignedIdentity names", () => {
  test("keeps aad-pod-identity's <pod>-<podns>-<identity> name when it is unique and valid", () => {
    const item = key("ns1", "web-0", "ns1", "reader");
    expect(nameAssignments([item]).get(item)).toBe("web-0-ns1-reader");
    expect(originalAssignedIdentityName(item)).toBe("web-0-ns1-reader");
  });

  test("same identity name in two namespaces bound to one pod: both records get distinct names", () => {
    const a = key("app", "web-0", "ns-a", "reader");
    const b = key("app", "web-0", "ns-b", "reader");
    const names = nameAssignments([b, a]);
    expect(names.get(a)).toBe("web-0-app-reader");
    expect(names.get(b)).not.toBe(names.get(a));
    expect(isDnsSubdomain(names.get(b) ?? "")).toBe(true);
  });

  test("hyphen split (pod a-b in c vs pod a in b-c) does not collide", () => {
    const a = key("c", "a-b", "x", "id");
    const b = key("b-c", "a", "x", "id");
    const names = nameAssignments([a, b]);
    expect(new Set(names.values()).size).toBe(2);
  });

  test("names longer than 253 characters are cut and suffixed, staying a valid DNS subdomain", () => {
    const long = key("ns", "p".repeat(200), "ns", "i".repeat(100));
    const name = nameAssignments([long]).get(long) ?? "";
    expect(name.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
    expect(isDnsSubdomain(name)).toBe(true);
    expect(name).toBe(hashedAssignedIdentityName(long));
  });

  test("records in different record namespaces may share the original name", () => {
    const a = { ...key("c", "a-b", "x", "id"), recordNamespace: "x" };
    const b = { ...key("b-c", "a", "y", "id"), recordNamespace: "y" };
    const names = nameAssignments([a, b]);
    expect(names.get(a)).toBe(originalAssignedIdentityName(a));
    expect(names.get(b)).toBe(originalAssignedIdentityName(b));
  });

  test("property: names are unique per record namespace, valid, ≤253, and independent of order", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(keyArb, { selector: (k) => JSON.stringify(k), maxLength: 30 }),
        fc.nat(),
        (items, seed) => {
          const names = nameAssignments(items);
          const seen = new Set<string>();
          for (const item of items) {
            const name = names.get(item) ?? "";
            expect(isDnsSubdomain(name)).toBe(true);
            const full = `${item.recordNamespace}/${name}`;
            expect(seen.has(full)).toBe(false);
            seen.add(full);
          }
          const rank = (x: unknown) => Bun.hash(`${seed}:${JSON.stringify(x)}`);
          const shuffled = [...items].sort((x, y) => (rank(x) < rank(y) ? -1 : rank(x) > rank(y) ? 1 : 0));
          const again = nameAssignments(shuffled);
          for (const item of items) expect(again.get(item)).toBe(names.get(item));
        },
      ),
    );
  });

  test("the hashed form is deterministic and valid even for odd input", () => {
    const odd: AssignmentKey = { podNamespace: "NS", podName: "-.x..", identityNamespace: "a", identityName: "B_c" };
    expect(hashedAssignedIdentityName(odd)).toBe(hashedAssignedIdentityName({ ...odd }));
    expect(isDnsSubdomain(hashedAssignedIdentityName(odd))).toBe(true);
  });
});
