// Names of AzureAssignedIdentity records. aad-pod-identity names them <pod>-<podns>-<identity>; that
// name is kept whenever it is a valid, unique DNS subdomain so existing records and tooling keep
// working. When it is too long, invalid, or shared by several records (same identity name in two
// namespaces, or a hyphen split such as pod "a-b"/ns "c" vs pod "a"/ns "b-c"), a deterministic hash
// of the full (pod namespace, pod, identity namespace, identity) tuple is appended instead.
import { createHash } from "node:crypto";

export const MAX_NAME_LENGTH = 253;
const HASH_LENGTH = 10;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The identity of one record: which pod gets which identity. */
export interface AssignmentKey {
  podNamespace: string;
  podName: string;
  identityNamespace: string;
  identityName: string;
}

/** aad-pod-identity's name: `<pod>-<podNamespace>-<identity>` (issue #1065: ambiguous). */
export function originalAssignedIdentityName(key: AssignmentKey): string {
  return `${key.podName}-${key.podNamespace}-${key.identityName}`;
}

export function isDnsSubdomain(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && DNS_SUBDOMAIN.test(name);
}

/** Stable short hash of the full tuple; the separators cannot occur in Kubernetes names. */
export function assignmentHash(key: AssignmentKey): string {
  return createHash("sha256")
    .update(`${key.podNamespace}/${key.podName}/${key.identityNamespace}/${key.identityName}`)
    .digest("hex")
    .slice(0, HASH_LENGTH);
}

/** Lower-cases and drops what a DNS subdomain cannot hold, so the hashed form is always valid. */
function sanitize(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, "-")
    .split(".")
    .map((label) => label.replace(/^-+|-+$/g, ""))
    .filter((label) => label.length > 0)
    .join(".");
}

/** `<original, cut to fit>-<hash>`: unique per tuple, ≤253 characters, a valid DNS subdomain. */
export function hashedAssignedIdentityName(key: AssignmentKey): string {
  const hash = assignmentHash(key);
  const room = MAX_NAME_LENGTH - HASH_LENGTH - 1;
  const prefix = sanitize(originalAssignedIdentityName(key))
    .slice(0, room)
    .replace(/[.-]+$/, "");
  return prefix ? `${prefix}-${hash}` : hash;
}

function compareKeys(a: AssignmentKey, b: AssignmentKey): number {
  return (
    cmp(a.podNamespace, b.podNamespace) ||
    cmp(a.podName, b.podName) ||
    cmp(a.identityNamespace, b.identityNamespace) ||
    cmp(a.identityName, b.identityName)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Names every record of a set at once, so the result depends only on the set, never on order.
 * `recordNamespace` groups names: only records in the same namespace can collide. Within a group of
 * records sharing an original name, the first by (pod ns, pod, identity ns, identity) keeps it (as
 * the survivor of aad-pod-identity's collision did for one pod), the others get the hashed form.
 */
export function nameAssignments<T extends AssignmentKey & { recordNamespace: string }>(
  items: readonly T[],
): Map<T, string> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const groupKey = `${item.recordNamespace}/${originalAssignedIdentityName(item)}`;
    const group = groups.get(groupKey);
    if (group) group.push(item);
    else groups.set(groupKey, [item]);
  }
  const names = new Map<T, string>();
  for (const group of groups.values()) {
    group.sort(compareKeys);
    group.forEach((item, index) => {
      const original = originalAssignedIdentityName(item);
      names.set(item, index === 0 && isDnsSubdomain(original) ? original : hashedAssignedIdentityName(item));
    });
  }
  return names;
}
