// MIC's cloud configuration, read exactly where aad-pod-identity reads it: the azure.json file given by
// --cloudconfig (YAML-parsed, so JSON or YAML), or else the environment variables of the
// aadpodidentity-admin-secret. Untrusted: parsed with valibot, problems reported, never cast.
//
// Endpoint overrides (emulators, tests, air-gapped clouds), in order of precedence:
//   1. `overrides` passed by the caller (e.g. from command-line flags): resourceManagerEndpoint,
//      activeDirectoryEndpoint, tokenAudience. Overriding the ARM endpoint keeps the cloud's token
//      audience, so an emulator at http://127.0.0.1:port still gets tokens for https://management.azure.com/.
//   2. cloud "AzureStackCloud" with AZURE_ENVIRONMENT_FILEPATH pointing at a go-autorest environment JSON
//      ({"name", "resourceManagerEndpoint", "activeDirectoryEndpoint", ...}), as aad-pod-identity supports.
import { readFileSync } from "node:fs";
import * as v from "valibot";
import {
  builtInCloud,
  type CloudEndpoints,
  ENVIRONMENT_FILEPATH_VARIABLE,
  isAzureStackCloud,
  parseEnvironmentFile,
} from "./cloud-environments.ts";

/** The azure.json keys aad-pod-identity reads (`vmType` is read but, as there, unused). */
export interface AzureConfig {
  cloud: string;
  tenantId: string;
  aadClientId: string;
  aadClientSecret: string;
  subscriptionId: string;
  resourceGroup: string;
  vmType: string;
  useManagedIdentityExtension: boolean;
  userAssignedIdentityID: string;
}

/** How MIC authenticates to ARM. */
export type ArmAuthentication =
  | { method: "servicePrincipal"; tenantId: string; clientId: string; clientSecret: string }
  | { method: "systemAssignedIdentity" }
  | { method: "userAssignedIdentity"; clientId: string };

export interface CloudOverrides {
  resourceManagerEndpoint?: string;
  activeDirectoryEndpoint?: string;
  tokenAudience?: string;
}

export interface CloudConfig extends AzureConfig {
  source: "file" | "env";
  endpoints: CloudEndpoints;
  authentication: ArmAuthentication;
}

export class CloudConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid cloud configuration: ${problems.join("; ")}`);
    this.name = "CloudConfigError";
    this.problems = problems;
  }
}

// yaml.v2 decoded into Go strings; accept what a hand-written file plausibly holds, reject the rest.
const Text = v.optional(
  v.pipe(
    v.nullable(v.union([v.string(), v.number()])),
    v.transform((value) => (value === null ? "" : String(value))),
  ),
  "",
);
const Flag = v.optional(
  v.pipe(
    v.nullable(v.union([v.boolean(), v.picklist(["true", "false", "True", "False", "TRUE", "FALSE"])])),
    v.transform((value) => value === true || (typeof value === "string" && value.toLowerCase() === "true")),
  ),
  false,
);

const AzureJsonSchema = v.looseObject({
  cloud: Text,
  tenantId: Text,
  aadClientId: Text,
  aadClientSecret: Text,
  subscriptionId: Text,
  resourceGroup: Text,
  vmType: Text,
  useManagedIdentityExtension: Flag,
  userAssignedIdentityID: Text,
});

function problemsOf(issues: readonly v.BaseIssue<unknown>[]): string[] {
  return issues.map((issue) => `${v.getDotPath(issue) ?? "(root)"}: ${issue.message}`);
}

/** Parses azure.json text (JSON, or YAML as aad-pod-identity's yaml.Unmarshal accepts). */
export function parseAzureConfigText(text: string): AzureConfig {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    try {
      document = Bun.YAML.parse(text);
    } catch (error) {
      throw new CloudConfigError([`not JSON or YAML: ${(error as Error).message}`]);
    }
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new CloudConfigError(["the file must hold a JSON/YAML object"]);
  }
  const parsed = v.safeParse(AzureJsonSchema, document);
  if (!parsed.success) throw new CloudConfigError(problemsOf(parsed.issues));
  const { cloud, tenantId, aadClientId, aadClientSecret, subscriptionId, resourceGroup, vmType } = parsed.output;
  const { useManagedIdentityExtension, userAssignedIdentityID } = parsed.output;
  return {
    cloud,
    tenantId,
    aadClientId,
    aadClientSecret,
    subscriptionId,
    resourceGroup,
    vmType,
    useManagedIdentityExtension,
    userAssignedIdentityID,
  };
}

/** The admin-secret environment variables, read as aad-pod-identity reads them. */
export function azureConfigFromEnv(env: Record<string, string | undefined>): AzureConfig {
  const read = (name: string) => env[name] ?? "";
  return {
    cloud: read("CLOUD"),
    tenantId: read("TENANT_ID"),
    aadClientId: read("CLIENT_ID"),
    aadClientSecret: read("CLIENT_SECRET"),
    subscriptionId: read("SUBSCRIPTION_ID"),
    resourceGroup: read("RESOURCE_GROUP"),
    vmType: read("VM_TYPE"),
    useManagedIdentityExtension: read("USE_MSI").toLowerCase() === "true",
    userAssignedIdentityID: read("USER_ASSIGNED_MSI_CLIENT_ID"),
  };
}

/** MSI when useManagedIdentityExtension (user-assigned when a client ID is given), else SP secret. */
export function armAuthentication(config: AzureConfig): ArmAuthentication {
  if (config.useManagedIdentityExtension) {
    return config.userAssignedIdentityID === ""
      ? { method: "systemAssignedIdentity" }
      : { method: "userAssignedIdentity", clientId: config.userAssignedIdentityID };
  }
  return {
    method: "servicePrincipal",
    tenantId: config.tenantId,
    clientId: config.aadClientId,
    clientSecret: config.aadClientSecret,
  };
}

function authenticationProblems(auth: ArmAuthentication): string[] {
  if (auth.method !== "servicePrincipal") return [];
  const missing: string[] = [];
  if (auth.tenantId === "") missing.push("tenantId (TENANT_ID) is required for service principal authentication");
  if (auth.clientId === "") missing.push("aadClientId (CLIENT_ID) is required for service principal authentication");
  if (auth.clientSecret === "")
    missing.push("aadClientSecret (CLIENT_SECRET) is required for service principal authentication");
  return missing;
}

function checkedUrl(label: string, value: string, problems: string[]): string {
  if (!v.is(v.pipe(v.string(), v.url(), v.regex(/^https?:\/\//i)), value)) {
    problems.push(`${label}: not an http(s) URL: ${JSON.stringify(value)}`);
  }
  return value;
}

export interface ResolveOptions {
  env?: Record<string, string | undefined>;
  overrides?: CloudOverrides;
  /** Reads the AzureStackCloud environment file; defaults to the filesystem. */
  readEnvironmentFile?: (path: string) => string;
}

/** Adds endpoints and authentication to a parsed config, checking both. Throws CloudConfigError. */
export function resolveCloudConfig(
  config: AzureConfig,
  source: "file" | "env",
  options: ResolveOptions = {},
): CloudConfig {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  let endpoints = builtInCloud(config.cloud);
  if (!endpoints && isAzureStackCloud(config.cloud)) {
    const path = env[ENVIRONMENT_FILEPATH_VARIABLE] ?? "";
    if (path === "") {
      problems.push(`cloud ${config.cloud} needs ${ENVIRONMENT_FILEPATH_VARIABLE}`);
    } else {
      try {
        endpoints = parseEnvironmentFile((options.readEnvironmentFile ?? ((p) => readFileSync(p, "utf8")))(path));
      } catch (error) {
        problems.push(`${ENVIRONMENT_FILEPATH_VARIABLE}=${path}: ${(error as Error).message}`);
      }
    }
  } else if (!endpoints) {
    problems.push(`there is no cloud environment matching the name ${JSON.stringify(config.cloud)}`);
  }
  const overrides = options.overrides ?? {};
  if (endpoints) {
    endpoints = {
      ...endpoints,
      resourceManagerEndpoint: checkedUrl(
        "resourceManagerEndpoint",
        overrides.resourceManagerEndpoint ?? endpoints.resourceManagerEndpoint,
        problems,
      ),
      activeDirectoryEndpoint: checkedUrl(
        "activeDirectoryEndpoint",
        overrides.activeDirectoryEndpoint ?? endpoints.activeDirectoryEndpoint,
        problems,
      ),
      tokenAudience: overrides.tokenAudience ?? endpoints.tokenAudience,
    };
  }
  const authentication = armAuthentication(config);
  problems.push(...authenticationProblems(authentication));
  if (problems.length > 0 || !endpoints) throw new CloudConfigError(problems);
  return { ...config, source, endpoints, authentication };
}

export interface LoadCloudConfigOptions extends ResolveOptions {
  /** azure.json path (--cloudconfig). Empty or absent: the environment variables. */
  path?: string;
}

/** Reads azure.json (or the environment) and resolves it. Throws CloudConfigError on any problem. */
export async function loadCloudConfig(options: LoadCloudConfigOptions = {}): Promise<CloudConfig> {
  const env = options.env ?? process.env;
  if (options.path) {
    let text: string;
    try {
      text = await Bun.file(options.path).text();
    } catch (error) {
      throw new CloudConfigError([`cannot read ${options.path}: ${(error as Error).message}`]);
    }
    return resolveCloudConfig(parseAzureConfigText(text), "file", { ...options, env });
  }
  return resolveCloudConfig(azureConfigFromEnv(env), "env", { ...options, env });
}
