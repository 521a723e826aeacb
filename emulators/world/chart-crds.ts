// The four aadpodidentity.k8s.io CRDs exactly as the Helm chart ships them, so the emulated API server
// validates custom resources against the same schemas a real cluster would.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as v from "valibot";
import type { KubeObject } from "../kube/index.ts";

export const CHART_CRDS_PATH = resolve(import.meta.dir, "../../helm/pod-identity/crds/crd.yaml");

const CrdDocument = v.looseObject({
  apiVersion: v.literal("apiextensions.k8s.io/v1"),
  kind: v.literal("CustomResourceDefinition"),
  metadata: v.looseObject({ name: v.string() }),
});

/** Parses the chart's CRD file (multi-document YAML); throws when a document is not a CRD. */
export function loadChartCrds(path = CHART_CRDS_PATH): KubeObject[] {
  const parsed: unknown = Bun.YAML.parse(readFileSync(path, "utf8"));
  const documents = (Array.isArray(parsed) ? parsed : [parsed]).filter((doc) => doc !== null && doc !== undefined);
  return documents.map((doc, index) => {
    const result = v.safeParse(CrdDocument, doc);
    if (!result.success) throw new Error(`${path}: document ${index + 1} is not a v1 CustomResourceDefinition`);
    return result.output;
  });
}
