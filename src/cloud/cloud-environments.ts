// Azure cloud name → endpoints, as go-autorest's EnvironmentFromName resolves them for aad-pod-identity:
// four built-in clouds matched case-insensitively, and AzureStackCloud read from the JSON file named by
// AZURE_ENVIRONMENT_FILEPATH.
import * as v from "valibot";

export interface CloudEndpoints {
  /** The cloud's name as configured (or the environment file's `name`). */
  name: string;
  /** ARM base URL, e.g. https://management.azure.com/ */
  resourceManagerEndpoint: string;
  /** AAD authority host, e.g. https://login.microsoftonline.com/ */
  activeDirectoryEndpoint: string;
  /** Audience of ARM tokens. aad-pod-identity asks for the ResourceManagerEndpoint. */
  tokenAudience: string;
}

export const ENVIRONMENT_FILEPATH_VARIABLE = "AZURE_ENVIRONMENT_FILEPATH";
export const AZURE_STACK_CLOUD = "AzureStackCloud";

const BUILT_IN: Record<string, Omit<CloudEndpoints, "tokenAudience">> = {
  AZUREPUBLICCLOUD: {
    name: "AzurePublicCloud",
    resourceManagerEndpoint: "https://management.azure.com/",
    activeDirectoryEndpoint: "https://login.microsoftonline.com/",
  },
  AZUREUSGOVERNMENTCLOUD: {
    name: "AzureUSGovernmentCloud",
    resourceManagerEndpoint: "https://management.usgovcloudapi.net/",
    activeDirectoryEndpoint: "https://login.microsoftonline.us/",
  },
  AZURECHINACLOUD: {
    name: "AzureChinaCloud",
    resourceManagerEndpoint: "https://management.chinacloudapi.cn/",
    activeDirectoryEndpoint: "https://login.chinacloudapi.cn/",
  },
  AZUREGERMANCLOUD: {
    name: "AzureGermanCloud",
    resourceManagerEndpoint: "https://management.microsoftazure.de/",
    activeDirectoryEndpoint: "https://login.microsoftonline.de/",
  },
};

/**
 * Endpoints of a built-in cloud. An empty name means AzurePublicCloud (go-autorest rejects it; that
 * only ever broke env-var setups without CLOUD). Undefined for unknown names and for AzureStackCloud.
 */
export function builtInCloud(name: string): CloudEndpoints | undefined {
  const found = BUILT_IN[(name.trim() === "" ? "AzurePublicCloud" : name.trim()).toUpperCase()];
  return found ? { ...found, tokenAudience: found.resourceManagerEndpoint } : undefined;
}

export function isAzureStackCloud(name: string): boolean {
  return name.trim().toUpperCase() === AZURE_STACK_CLOUD.toUpperCase();
}

const HttpUrl = v.pipe(v.string(), v.url(), v.regex(/^https?:\/\//i, "must be an http(s) URL"));

const EnvironmentFileSchema = v.looseObject({
  name: v.optional(v.string(), AZURE_STACK_CLOUD),
  resourceManagerEndpoint: HttpUrl,
  activeDirectoryEndpoint: HttpUrl,
});

/** Parses an AzureStackCloud environment file (go-autorest's Environment JSON). Throws with the problems. */
export function parseEnvironmentFile(text: string): CloudEndpoints {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`environment file is not JSON: ${(error as Error).message}`);
  }
  const parsed = v.safeParse(EnvironmentFileSchema, json);
  if (!parsed.success) {
    throw new Error(
      `environment file: ${parsed.issues.map((issue) => `${v.getDotPath(issue) ?? "(root)"}: ${issue.message}`).join("; ")}`,
    );
  }
  const { name, resourceManagerEndpoint, activeDirectoryEndpoint } = parsed.output;
  return { name, resourceManagerEndpoint, activeDirectoryEndpoint, tokenAudience: resourceManagerEndpoint };
}
