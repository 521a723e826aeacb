// The environment variables the original binaries read, parsed with valibot (never cast).
import * as v from "valibot";
import type { CloudEnv } from "./types.ts";

// Unset and empty are the same thing to the original (os.Getenv returns "").
const optionalText = v.pipe(
  v.optional(v.string()),
  v.transform((text) => (text === undefined || text === "" ? undefined : text)),
);

const environmentSchema = v.object({
  MIC_POD_NAMESPACE: optionalText,
  FORCENAMESPACED: optionalText,
  NODE_NAME: optionalText,
  KUBECONFIG: optionalText,
  CLOUD: optionalText,
  TENANT_ID: optionalText,
  CLIENT_ID: optionalText,
  CLIENT_SECRET: optionalText,
  SUBSCRIPTION_ID: optionalText,
  RESOURCE_GROUP: optionalText,
  VM_TYPE: optionalText,
  USE_MSI: optionalText,
  USER_ASSIGNED_MSI_CLIENT_ID: optionalText,
  AZURE_ENVIRONMENT_FILEPATH: optionalText,
});

export interface ParsedEnvironment {
  micPodNamespace?: string;
  /** The original compares FORCENAMESPACED with exactly "true". */
  forceNamespaced: boolean;
  nodeName?: string;
  kubeconfig?: string;
  cloudEnv: CloudEnv;
}

export function parseEnvironment(env: Record<string, string | undefined>): ParsedEnvironment {
  // Every field is an optional string, so this parse cannot fail on a process environment.
  const raw = v.parse(environmentSchema, env);
  const cloudEnv: CloudEnv = {
    cloud: raw.CLOUD,
    tenantId: raw.TENANT_ID,
    clientId: raw.CLIENT_ID,
    clientSecret: raw.CLIENT_SECRET,
    subscriptionId: raw.SUBSCRIPTION_ID,
    resourceGroup: raw.RESOURCE_GROUP,
    vmType: raw.VM_TYPE,
    useMsi: raw.USE_MSI?.toLowerCase() === "true",
    userAssignedMsiClientId: raw.USER_ASSIGNED_MSI_CLIENT_ID,
    azureEnvironmentFilepath: raw.AZURE_ENVIRONMENT_FILEPATH,
  };
  return {
    micPodNamespace: raw.MIC_POD_NAMESPACE,
    forceNamespaced: raw.FORCENAMESPACED === "true",
    nodeName: raw.NODE_NAME,
    kubeconfig: raw.KUBECONFIG,
    cloudEnv,
  };
}
