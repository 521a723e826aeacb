// Managed mode's request-time resolution (§5.8): which identity a pod gets from the bindings and
// identities of its own namespace, and what it is told when it gets none — checked on the pure
// selection, on the resolver, and through NMI's HTTP app for the status and body the pod receives.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { AzureIdentity, AzureIdentityBinding } from "../../src/kube/crds.ts";
import {
  managedIdentityResolver,
  type NamespacedObjects,
  selectManagedIdentity,
} from "../../src/roles/managed/managed-resolver.ts";
import { InMemoryExceptions, InMemoryPods } from "../../src/roles/nmi/in-memory-ports.ts";
import type { PodInfo, Token } from "../../src/roles/nmi/ports.ts";
import { createNmiApp } from "../../src/roles/nmi/server.ts";
import type { TokenProvider } from "../../src/roles/nmi/token-service.ts";
import { nmiServerConfig } from "../support/nmi-server-config.ts";

const CLIENT_A = "aaaaaaaa-1111-4222-8333-444444444444";
const CLIENT_B = "bbbbbbbb-1111-4222-8333-444444444444";
const CLIENT_C = "cccccccc-1111-4222-8333-444444444444";

const resourceIdOf = (name: string) =>
  `/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

function identity(name: string, namespace: string, clientID: string, type: 0 | 1 | 2 = 0): AzureIdentity {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentity",
    metadata: { name, namespace },
    spec: {
      type,
      clientID,
      resourceID: type === 0 ? resourceIdOf(name) : "",
      tenantID: type === 0 ? "" : "tenant-1",
      adEndpoint: "",
      adResourceID: "",
      ...(type === 0 ? {} : { clientPassword: { name: `${name}-secret`, namespace } }),
    },
  };
}

function binding(name: string, namespace: string, azureIdentity: string, selector: string): AzureIdentityBinding {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureIdentityBinding",
    metadata: { name, namespace },
    spec: { azureIdentity, selector },
  };
}

/** The informer-backed lookups run-nmi wires, over plain arrays (bindings filtered by namespace/selector). */
function objectsOf(identities: AzureIdentity[], bindings: AzureIdentityBinding[]): NamespacedObjects {
  return {
    bindings: (namespace, selector) =>
      bindings.filter((b) => b.metadata.namespace === namespace && b.spec.selector === selector),
    identity: (namespace, name) =>
      identities.find((i) => i.metadata.namespace === namespace && i.metadata.name === name),
  };
}

function pod(name: string, namespace: string, selector?: string, ip = "10.0.0.5"): PodInfo {
  return {
    name,
    namespace,
    uid: `uid-${name}`,
    ip,
    phase: "Running",
    labels: selector === undefined ? {} : { aadpodidbinding: selector },
    ownerReferences: [],
  };
}

const none = { clientId: "", resourceId: "" };

describe("managed mode: selection in the pod's namespace", () => {
  const objects = objectsOf(
    [
      identity("id-a", "team-a", CLIENT_A),
      identity("id-b", "team-a", CLIENT_B),
      identity("id-a", "team-b", CLIENT_C),
      identity("id-other", "team-b", CLIENT_B),
    ],
    [
      binding("bind-a", "team-a", "id-a", "web"),
      binding("bind-b", "team-a", "id-b", "web"),
      // Same selector in another namespace, naming an identity that only exists there.
      binding("bind-x", "team-b", "id-other", "web"),
    ],
  );

  test("a pod gets an identity bound by a binding of its own namespace whose selector is its label", () => {
    const selection = selectManagedIdentity(pod("p", "team-a", "web"), { clientId: CLIENT_B, resourceId: "" }, objects);
    expect(selection.kind).toBe("found");
    if (selection.kind === "found") expect(selection.identity.metadata).toEqual({ name: "id-b", namespace: "team-a" });
    // The binding that named it travels with it (NMI tags the cached token with it).
    if (selection.kind === "found") expect(selection.bindings).toEqual(["bind-b"]);
  });

  test("the same selector in another namespace gives that namespace's identities only", () => {
    const selection = selectManagedIdentity(pod("p", "team-b", "web"), none, objects);
    expect(selection.kind).toBe("found");
    if (selection.kind === "found")
      expect(selection.identity.metadata).toEqual({ name: "id-other", namespace: "team-b" });
    // team-a's identities are not reachable from team-b, even by client id.
    expect(selectManagedIdentity(pod("p", "team-b", "web"), { clientId: CLIENT_A, resourceId: "" }, objects).kind).toBe(
      "no-match",
    );
  });

  test("a binding naming an identity that exists only in another namespace gives nothing", () => {
    const crossNamespace = objectsOf(
      [identity("shared", "team-a", CLIENT_A)],
      [binding("bind", "team-b", "shared", "web")],
    );
    const selection = selectManagedIdentity(pod("p", "team-b", "web"), none, crossNamespace);
    expect(selection).toEqual({ kind: "no-identity", selector: "web", missing: ["shared"], unusable: [] });
  });

  test("a lookup that returns a binding of another namespace or selector cannot widen what the pod gets", () => {
    const leaky: NamespacedObjects = {
      bindings: () => [binding("bind", "team-a", "id-a", "web"), binding("bind-2", "team-b", "id-a", "api")],
      identity: (namespace, name) => (name === "id-a" ? identity("id-a", namespace, CLIENT_A) : undefined),
    };
    expect(selectManagedIdentity(pod("p", "team-b", "web"), none, leaky).kind).toBe("no-binding");
  });

  test("selector matching is exact: a different case or a prefix does not match", () => {
    expect(selectManagedIdentity(pod("p", "team-a", "Web"), none, objects).kind).toBe("no-binding");
    expect(selectManagedIdentity(pod("p", "team-a", "we"), none, objects).kind).toBe("no-binding");
  });

  test("a pod without the aadpodidbinding label, or with an empty one, gets nothing", () => {
    expect(selectManagedIdentity(pod("p", "team-a"), none, objects).kind).toBe("no-label");
    expect(selectManagedIdentity(pod("p", "team-a", ""), none, objects).kind).toBe("no-label");
  });

  test("client_id matches case-insensitively", () => {
    const selection = selectManagedIdentity(
      pod("p", "team-a", "web"),
      { clientId: CLIENT_B.toUpperCase(), resourceId: "" },
      objects,
    );
    expect(selection.kind === "found" && selection.identity.spec.clientID).toBe(CLIENT_B);
  });

  test("msi_res_id matches case-insensitively", () => {
    const selection = selectManagedIdentity(
      pod("p", "team-a", "web"),
      { clientId: "", resourceId: resourceIdOf("id-b").toLowerCase() },
      objects,
    );
    expect(selection.kind === "found" && selection.identity.metadata.name).toBe("id-b");
  });

  test("a requested identity that is not bound to the pod is not handed out", () => {
    const selection = selectManagedIdentity(pod("p", "team-a", "web"), { clientId: CLIENT_C, resourceId: "" }, objects);
    expect(selection).toEqual({ kind: "no-match", selector: "web", bound: ["id-a", "id-b"] });
  });

  test("with no identity requested the choice is the smallest name, whatever order the informer lists", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), { minLength: 1, maxLength: 6 }),
        fc.integer(),
        (names, seed) => {
          const identities = names.map((name, i) => identity(name, "ns", `${i}0000000-1111-4222-8333-444444444444`));
          const bindings = names.map((name) => binding(`b-${name}`, "ns", name, "sel"));
          // Shuffle both lists deterministically from the seed.
          const shuffled = <T>(items: T[]) =>
            items
              .map((item, i) => ({ item, key: Math.imul(seed ^ (i + 1), 2654435761) >>> 0 }))
              .sort((x, y) => x.key - y.key)
              .map((x) => x.item);
          const selection = selectManagedIdentity(
            pod("p", "ns", "sel"),
            none,
            objectsOf(shuffled(identities), shuffled(bindings)),
          );
          return selection.kind === "found" && selection.identity.metadata.name === [...names].sort()[0];
        },
      ),
    );
  });

  test("the pod only ever gets identities of its own namespace (property)", () => {
    const namespaces = ["a", "b", "c"];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            ns: fc.constantFrom(...namespaces),
            name: fc.constantFrom("x", "y", "z"),
            client: fc.constantFrom(CLIENT_A, CLIENT_B, CLIENT_C),
          }),
          { maxLength: 8 },
        ),
        fc.array(
          fc.record({
            ns: fc.constantFrom(...namespaces),
            identity: fc.constantFrom("x", "y", "z"),
            selector: fc.constantFrom("s1", "s2"),
          }),
          { maxLength: 8 },
        ),
        fc.constantFrom(...namespaces),
        fc.constantFrom("s1", "s2"),
        fc.constantFrom("", CLIENT_A, CLIENT_B, CLIENT_C),
        (ids, binds, podNs, selector, clientId) => {
          const identities = ids.map((i) => identity(i.name, i.ns, i.client));
          const bindings = binds.map((b, n) => binding(`b${n}`, b.ns, b.identity, b.selector));
          const selection = selectManagedIdentity(
            pod("p", podNs, selector),
            { clientId, resourceId: "" },
            objectsOf(identities, bindings),
          );
          if (selection.kind !== "found") return true;
          const chosen = selection.identity;
          const boundHere = bindings.some(
            (b) =>
              b.metadata.namespace === podNs &&
              b.spec.selector === selector &&
              b.spec.azureIdentity === chosen.metadata.name,
          );
          return (
            chosen.metadata.namespace === podNs &&
            boundHere &&
            (clientId === "" || chosen.spec.clientID.toLowerCase() === clientId.toLowerCase())
          );
        },
      ),
    );
  });

  test("service-principal identities (types 1 and 2) are resolved like user-assigned ones", () => {
    const sp = objectsOf(
      [identity("sp-secret", "ns", CLIENT_A, 1), identity("sp-cert", "ns", CLIENT_B, 2)],
      [binding("b1", "ns", "sp-secret", "sp"), binding("b2", "ns", "sp-cert", "sp")],
    );
    const secret = selectManagedIdentity(pod("p", "ns", "sp"), { clientId: CLIENT_A, resourceId: "" }, sp);
    expect(secret.kind === "found" && secret.identity.spec.type).toBe(1);
    const certificate = selectManagedIdentity(pod("p", "ns", "sp"), { clientId: CLIENT_B, resourceId: "" }, sp);
    expect(certificate.kind === "found" && certificate.identity.spec.type).toBe(2);
    // Nothing requested: the smallest name, whatever its type.
    const first = selectManagedIdentity(pod("p", "ns", "sp"), none, sp);
    expect(first.kind === "found" && first.identity.metadata.name).toBe("sp-cert");
  });

  test("an identity without a client ID is never chosen (IMDS would hand out the node's default identity)", () => {
    const objects = objectsOf([identity("empty", "ns", "")], [binding("b", "ns", "empty", "sel")]);
    expect(selectManagedIdentity(pod("p", "ns", "sel"), none, objects)).toEqual({
      kind: "no-identity",
      selector: "sel",
      missing: [],
      unusable: ["empty"],
    });
  });
});

describe("managed resolver", () => {
  const objects = objectsOf([identity("id-a", "ns", CLIENT_A)], [binding("bind-a", "ns", "id-a", "sel")]);
  const resolve = managedIdentityResolver(objects);

  test("resolves at once, without waiting, when the pod is bound", async () => {
    const resolution = await resolve(pod("p", "ns", "sel"), none);
    expect(resolution.kind).toBe("found");
    expect(resolution.waitedMs).toBe(0);
  });

  test("no identity: not-ready (404, or 503 with Retry-After) led by the original's text, client ID redacted", async () => {
    const resolution = await resolve(pod("p", "ns", "sel"), { clientId: CLIENT_B, resourceId: "" });
    expect(resolution.kind).toBe("not-ready");
    if (resolution.kind !== "not-ready") return;
    expect(
      resolution.message.startsWith("no azure identity found for request clientID bbbb##### REDACTED #####4444"),
    ).toBe(true);
    expect(resolution.message).not.toContain(CLIENT_B);
    expect(resolution.message).toContain("id-a");
  });

  test("the message names the missing label, the unmatched selector and the namespace", async () => {
    const unlabelled = await resolve(pod("p", "ns"), none);
    expect(unlabelled.kind === "not-ready" && unlabelled.message).toBe(
      "no azure identity found for request clientID: pod ns/p has no aadpodidbinding label",
    );
    const other = await resolve(pod("p", "elsewhere", "sel"), none);
    expect(other.kind === "not-ready" && other.message).toContain(
      "no AzureIdentityBinding in namespace elsewhere has selector sel",
    );
  });
});

describe("managed mode through NMI's HTTP app", () => {
  const token = (clientId: string, resource: string): Token => ({
    accessToken: `tok-${clientId}`,
    expiresOnMs: Date.now() + 3_600_000,
    notBeforeMs: Date.now(),
    resource,
    tokenType: "Bearer",
    clientId,
  });

  function appWith(setRetryAfterHeader: boolean) {
    const pods = new InMemoryPods();
    pods.upsert(pod("bound", "ns", "sel", "10.0.0.5"));
    pods.upsert(pod("intruder", "other", "sel", "10.0.0.6"));
    const calls: string[] = [];
    const tokens: TokenProvider = {
      async forIdentity(id, resource) {
        calls.push(id.spec.clientID);
        return { tokens: [token(id.spec.clientID, resource)], source: "upstream" };
      },
      async forExceptedPod(clientId, resource) {
        return { tokens: [token(clientId, resource)], source: "upstream" };
      },
    };
    const app = createNmiApp({
      config: nmiServerConfig({ setRetryAfterHeader, podLookupWaitMs: 0 }),
      pods,
      exceptions: new InMemoryExceptions(),
      resolveIdentity: managedIdentityResolver(
        objectsOf([identity("id-a", "ns", CLIENT_A)], [binding("bind-a", "ns", "id-a", "sel")]),
      ),
      tokens,
      proxy: { forward: async () => new Response("unexpected", { status: 599 }) },
    });
    const get = (ip: string, query: string) =>
      app.fetch(
        new Request(`http://nmi/metadata/identity/oauth2/token?api-version=2018-02-01&${query}`, {
          headers: { Metadata: "true" },
        }),
        { requestIP: () => ({ address: ip, family: "IPv4", port: 40000 }) },
      );
    return { get, calls };
  }

  test("a bound pod gets its identity's token", async () => {
    const { get, calls } = appWith(false);
    const response = await get("10.0.0.5", "resource=https%3A%2F%2Fvault.azure.net");
    expect(response.status).toBe(200);
    expect(((await response.json()) as { access_token: string }).access_token).toBe(`tok-${CLIENT_A}`);
    expect(calls).toEqual([CLIENT_A]);
  });

  test("a pod of another namespace with the same label gets the original's 404, and no token is fetched", async () => {
    const { get, calls } = appWith(false);
    const response = await get("10.0.0.6", "resource=https%3A%2F%2Fvault.azure.net");
    expect(response.status).toBe(404);
    expect(response.headers.get("retry-after")).toBeNull();
    const body = (await response.json()) as { error: string; error_description: string };
    expect(body.error).toBe("not_found");
    expect(body.error_description.startsWith("no azure identity found for request clientID")).toBe(true);
    expect(calls).toEqual([]);
  });

  test("with --set-retry-after-header the refusal is 503 with Retry-After: 20, as the original", async () => {
    const { get, calls } = appWith(true);
    const response = await get("10.0.0.6", "resource=https%3A%2F%2Fvault.azure.net");
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("20");
    expect(calls).toEqual([]);
  });

  test("an upper-case client_id of the bound identity is served (case-insensitive)", async () => {
    const { get, calls } = appWith(false);
    const response = await get("10.0.0.5", `resource=r&client_id=${CLIENT_A.toUpperCase()}`);
    expect(response.status).toBe(200);
    expect(calls).toEqual([CLIENT_A]);
  });
});
