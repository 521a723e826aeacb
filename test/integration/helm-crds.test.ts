// The chart's CRDs: the original's group, names, scope and field names, structural schemas, no status
// subresource, the original's printer columns; the original's example objects validate against them,
// and the Kubernetes emulator, driven by the real kubectl, accepts the CRDs as helm renders them and
// then those objects (strict field validation), while refusing malformed ones.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type KubeEmulator, startKubeEmulator } from "../../emulators/kube/index.ts";
import {
  AzureAssignedIdentitySchema,
  AzureIdentityBindingSchema,
  AzureIdentitySpecSchema,
  PLURALS,
} from "../../src/kube/crds.ts";
import { fixturesDir, type K8sObject, parseManifests, renderChart } from "../support/helm-render.ts";
import { type SchemaNode, structuralProblems, validateAgainst } from "../support/structural-schema.ts";
import { kubectlPath } from "../support/tools.ts";

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  subresources?: Record<string, unknown>;
  additionalPrinterColumns?: { name: string; type: string; jsonPath: string }[];
  schema: { openAPIV3Schema: SchemaNode };
}
interface Crd {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular: string; listKind: string };
    versions: CrdVersion[];
  };
}

const rendered = renderChart({ includeCrds: true });
const crds = rendered.all("CustomResourceDefinition") as unknown as Crd[];

function crdOf(kind: string): Crd {
  const crd = crds.find((c) => c.spec.names.kind === kind);
  if (!crd) throw new Error(`no CRD for ${kind}`);
  return crd;
}

function v1(kind: string): CrdVersion {
  const version = crdOf(kind).spec.versions.find((v) => v.name === "v1");
  if (!version) throw new Error(`${kind} has no v1`);
  return version;
}

function schemaOf(kind: string): SchemaNode {
  return v1(kind).schema.openAPIV3Schema;
}

function properties(node: SchemaNode | undefined): string[] {
  return Object.keys(node?.properties ?? {}).sort();
}

async function fixtureObjects(): Promise<K8sObject[]> {
  const files = readdirSync(fixturesDir).filter((f) => f.endsWith(".yaml") && f !== "values.yaml");
  const texts = await Promise.all(files.map((f) => Bun.file(resolve(fixturesDir, f)).text()));
  return texts.flatMap(parseManifests);
}

describe("CRDs", () => {
  test("the four kinds of aadpodidentity.k8s.io/v1, namespaced, with the original's plural names", () => {
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(Object.keys(PLURALS).sort());
    for (const crd of crds) {
      const kind = crd.spec.names.kind as keyof typeof PLURALS;
      expect(crd.spec.group).toBe("aadpodidentity.k8s.io");
      expect(crd.spec.scope).toBe("Namespaced");
      expect(crd.spec.names.plural).toBe(PLURALS[kind]);
      expect(crd.spec.names.listKind).toBe(`${kind}List`);
      expect(crd.metadata.name).toBe(`${PLURALS[kind]}.aadpodidentity.k8s.io`);
      expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([["v1", true, true]]);
    }
  });

  test("have structural schemas", () => {
    for (const crd of crds) {
      expect({ kind: crd.spec.names.kind, problems: structuralProblems(schemaOf(crd.spec.names.kind)) }).toEqual({
        kind: crd.spec.names.kind,
        problems: [],
      });
    }
  });

  test("have no status subresource, because MIC writes /status/status on the main resource", () => {
    for (const crd of crds) {
      expect(v1(crd.spec.names.kind).subresources?.status).toBeUndefined();
    }
  });

  test("keep the original's printer columns", () => {
    const columns = (kind: string) => v1(kind).additionalPrinterColumns?.map((c) => [c.name, c.type, c.jsonPath]);
    expect(columns("AzureIdentity")).toEqual([
      ["Type", "string", ".spec.type"],
      ["ClientID", "string", ".spec.clientID"],
      ["Age", "date", ".metadata.creationTimestamp"],
    ]);
    expect(columns("AzureIdentityBinding")).toEqual([
      ["AzureIdentity", "string", ".spec.azureIdentity"],
      ["Selector", "string", ".spec.selector"],
      ["Age", "date", ".metadata.creationTimestamp"],
    ]);
  });

  // Every spec also carries the original's legacy embedded `metadata`, which the TS types need not read.
  test("declare exactly the spec fields the project's CRD types read, plus the legacy spec.metadata", () => {
    const fields = (node: SchemaNode | undefined) => properties(node).filter((name) => name !== "metadata");
    const keys = (entries: object) =>
      Object.keys(entries)
        .filter((name) => name !== "metadata")
        .sort();
    expect(fields(schemaOf("AzureIdentity").properties?.spec)).toEqual(keys(AzureIdentitySpecSchema.entries));
    expect(fields(schemaOf("AzureIdentityBinding").properties?.spec)).toEqual(
      keys(AzureIdentityBindingSchema.entries.spec.wrapped.entries),
    );
    expect(fields(schemaOf("AzureAssignedIdentity").properties?.spec)).toEqual(
      keys(AzureAssignedIdentitySchema.entries.spec.entries),
    );
    for (const crd of crds) {
      expect(schemaOf(crd.spec.names.kind).properties?.spec?.properties?.metadata).toMatchObject({
        type: "object",
        "x-kubernetes-preserve-unknown-fields": true,
      });
    }
  });

  test("field types follow the original: type is an integer, clientPassword a secret reference, snapshots embedded", () => {
    const spec = schemaOf("AzureIdentity").properties?.spec?.properties ?? {};
    expect(spec.type?.type).toBe("integer");
    expect(properties(spec.clientPassword)).toEqual(["name", "namespace"]);
    expect(spec.auxiliaryTenantIDs).toMatchObject({ type: "array", nullable: true, items: { type: "string" } });
    expect(spec.metadata?.["x-kubernetes-preserve-unknown-fields"]).toBe(true);
    const assigned = schemaOf("AzureAssignedIdentity").properties;
    expect(assigned?.spec?.properties?.azureIdentityRef?.["x-kubernetes-embedded-resource"]).toBe(true);
    expect(assigned?.spec?.properties?.azureBindingRef?.["x-kubernetes-embedded-resource"]).toBe(true);
    expect(assigned?.status?.properties?.status?.type).toBe("string");
    const exception = schemaOf("AzurePodIdentityException").properties?.spec?.properties?.podLabels;
    expect(exception).toMatchObject({ type: "object", additionalProperties: { type: "string" } });
  });
});

describe("objects written for aad-pod-identity", () => {
  test("the example AzureIdentity (type 0 and 1), binding, exception and assigned identity validate", async () => {
    const objects = await fixtureObjects();
    expect(objects.map((o) => o.kind).sort()).toEqual([
      "AzureAssignedIdentity",
      "AzureIdentity",
      "AzureIdentity",
      "AzureIdentityBinding",
      "AzurePodIdentityException",
    ]);
    for (const object of objects) {
      expect({ name: object.metadata.name, problems: validateAgainst(schemaOf(object.kind), object) }).toEqual({
        name: object.metadata.name,
        problems: [],
      });
    }
  });

  test("the identities and exceptions the chart renders validate", () => {
    const fromValues = renderChart({ values: [resolve(fixturesDir, "values.yaml")] }).objects.filter(
      (o) => o.apiVersion === "aadpodidentity.k8s.io/v1",
    );
    expect(fromValues.length).toBe(6);
    for (const object of fromValues) {
      expect(validateAgainst(schemaOf(object.kind), object)).toEqual([]);
    }
  });

  test("objects of the wrong shape are rejected: a string type, an unknown field, an embedded ref without kind", async () => {
    const [identity] = (await fixtureObjects()).filter((o) => o.metadata.name === "demo-identity");
    const schema = schemaOf("AzureIdentity");
    expect(validateAgainst(schema, { ...identity, spec: { ...identity?.spec, type: "0" } })).toEqual([
      ".spec.type: expected integer",
    ]);
    expect(validateAgainst(schema, { ...identity, spec: { ...identity?.spec, clientId: "x" } })).toEqual([
      ".spec.clientId: unknown field",
    ]);
    const assigned = {
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzureAssignedIdentity",
      spec: { azureIdentityRef: { apiVersion: "v1" } },
    };
    expect(validateAgainst(schemaOf("AzureAssignedIdentity"), assigned)).toEqual([
      ".spec.azureIdentityRef.kind: required",
    ]);
    expect(structuralProblems({ type: "object", properties: { spec: { properties: {} } } })).toContain(
      ".spec: type is required (structural schema)",
    );
  });
});

describe("the Kubernetes emulator with the rendered CRDs, through kubectl", () => {
  let emulator: KubeEmulator;
  let dir: string;
  let kubeconfig: string;

  beforeAll(async () => {
    emulator = await startKubeEmulator();
    dir = mkdtempSync(join(tmpdir(), "helm-crds-"));
    kubeconfig = join(dir, "kubeconfig");
    emulator.writeKubeconfig(kubeconfig);
  });

  afterAll(async () => {
    await emulator?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Bun.spawn, not spawnSync: the emulator serves from this process meanwhile.
  async function kubectl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const child = Bun.spawn([kubectlPath(), "--kubeconfig", kubeconfig, ...args], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    return { code, out, err };
  }

  function writeManifests(name: string, objects: unknown[]): string {
    const path = join(dir, name);
    writeFileSync(path, objects.map((o) => JSON.stringify(o)).join("\n---\n"));
    return path;
  }

  test("accepts the four CRDs exactly as helm renders them, and serves their kinds", async () => {
    const applied = await kubectl("apply", "-f", writeManifests("crds.yaml", crds));
    expect(applied.err).toBe("");
    expect(applied.out.trim().split("\n").sort()).toEqual(
      Object.values(PLURALS)
        .map((plural) => `customresourcedefinition.apiextensions.k8s.io/${plural}.aadpodidentity.k8s.io created`)
        .sort(),
    );
    const resources = await kubectl("api-resources", "--api-group=aadpodidentity.k8s.io", "-o", "name");
    expect(resources.out.trim().split("\n").sort()).toEqual(
      Object.values(PLURALS)
        .map((plural) => `${plural}.aadpodidentity.k8s.io`)
        .sort(),
    );
  });

  test("accepts aad-pod-identity's example objects and the chart's own, with strict field validation", async () => {
    const fromValues = renderChart({ values: [resolve(fixturesDir, "values.yaml")] }).objects.filter(
      (o) => o.apiVersion === "aadpodidentity.k8s.io/v1",
    );
    const namespaces = [...new Set(fromValues.map((o) => o.metadata.namespace ?? "default"))].filter(
      (ns) => !["default", "kube-system"].includes(ns),
    );
    for (const namespace of namespaces)
      emulator.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    const objects = [...(await fixtureObjects()), ...fromValues];
    const created = await kubectl("create", "--validate=strict", "-f", writeManifests("objects.yaml", objects));
    expect({ code: created.code, err: created.err }).toEqual({ code: 0, err: "" });
    expect(created.out.trim().split("\n")).toHaveLength(objects.length);
    // Stored as given: nothing was pruned from the original's objects.
    const assigned = emulator.get(
      "aadpodidentity.k8s.io/v1",
      "AzureAssignedIdentity",
      "default",
      "demo-7d9f8c6b5-xk2lp-default-demo-identity",
    );
    expect(assigned?.status).toMatchObject({ status: "Assigned", availableReplicas: 1 });
    expect(assigned?.spec).toMatchObject({
      azureIdentityRef: { spec: { clientID: "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c" } },
    });
    const table = await kubectl("get", "azureidentities", "-A");
    expect(table.out).toMatch(/NAMESPACE\s+NAME\s+TYPE\s+CLIENTID\s+AGE/);
  });

  test("refuses an AzureIdentity whose type is a string, and an unknown field under strict validation", async () => {
    const [identity] = (await fixtureObjects()).filter((o) => o.metadata.name === "demo-identity");
    const badType = await kubectl(
      "create",
      "-f",
      writeManifests("bad-type.yaml", [
        {
          ...identity,
          metadata: { name: "bad-type", namespace: "default" },
          spec: { ...identity?.spec, type: "zero" },
        },
      ]),
    );
    expect(badType.code).not.toBe(0);
    expect(badType.err).toContain("spec.type in body must be of type integer");
    const unknownField = await kubectl(
      "create",
      "--validate=strict",
      "-f",
      writeManifests("unknown-field.yaml", [
        {
          ...identity,
          metadata: { name: "unknown-field", namespace: "default" },
          spec: { ...identity?.spec, clientId: "x" },
        },
      ]),
    );
    expect(unknownField.code).not.toBe(0);
    expect(unknownField.err).toContain('strict decoding error: unknown field "spec.clientId"');
  });
});
