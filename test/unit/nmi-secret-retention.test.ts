import { describe, expect, test } from "bun:test";
import type { AzureIdentity } from "../../src/kube/crds.ts";
import { referencedSecrets, secretKeyOf, watchesToStop } from "../../src/roles/nmi/wiring/secret-retention.ts";

function identity(type: 0 | 1 | 2, secret?: { name: string; namespace?: string }): AzureIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentity",
    metadata: { name: "id", namespace: "team" },
    spec: {
      type,
      clientID: "c",
      resourceID: "",
      tenantID: "t",
      adEndpoint: "",
      adResourceID: "",
      ...(secret ? { clientPassword: { name: secret.name, namespace: secret.namespace ?? "" } } : {}),
    },
  };
}

describe("secret retention", () => {
  test("only type 1 and 2 identities reference a Secret; its namespace defaults to the identity's", () => {
    expect(secretKeyOf(identity(1, { name: "s", namespace: "vault" }))).toBe("vault/s");
    expect(secretKeyOf(identity(2, { name: "cert" }))).toBe("team/cert");
    expect(secretKeyOf(identity(0, { name: "s" }))).toBeUndefined();
    expect(secretKeyOf(identity(1))).toBeUndefined();
    expect([
      ...referencedSecrets([identity(1, { name: "a" }), undefined, null, identity(0), identity(2, { name: "a" })]),
    ]).toEqual(["team/a"]);
  });

  test("watches stop when unreferenced or idle, and only then", () => {
    const watches = [
      { key: "team/used", lastUsedMs: 1000 },
      { key: "team/gone", lastUsedMs: 1000 },
      { key: "team/idle", lastUsedMs: 0 },
    ];
    const referenced = new Set(["team/used", "team/idle"]);
    expect(watchesToStop(watches, referenced, 1000 + 999, 2500)).toEqual(["team/gone"]);
    expect(watchesToStop(watches, referenced, 1000 + 999, 1500)).toEqual(["team/gone", "team/idle"]);
    // References unknown: only idleness counts.
    expect(watchesToStop(watches, undefined, 1000, 5000)).toEqual([]);
  });
});
