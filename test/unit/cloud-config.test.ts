import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  azureConfigFromEnv,
  type CloudConfig,
  CloudConfigError,
  loadCloudConfig,
  parseAzureConfigText,
  resolveCloudConfig,
} from "../../src/cloud/cloud-config.ts";
import { watchCloudConfig } from "../../src/cloud/cloud-config-watcher.ts";

const AKS_AZURE_JSON = JSON.stringify(
  {
    cloud: "AzurePublicCloud",
    tenantId: "tenant-1",
    subscriptionId: "sub-1",
    aadClientId: "msi",
    aadClientSecret: "msi",
    resourceGroup: "MC_rg_aks_westeurope",
    location: "westeurope",
    vmType: "vmss",
    useManagedIdentityExtension: true,
    userAssignedIdentityID: "kubelet-client-id",
    useInstanceMetadata: true,
  },
  null,
  "\t",
);

describe("azure.json", () => {
  test("an AKS file (tab-indented JSON, extra keys) with a user-assigned kubelet identity", async () => {
    const config = resolveCloudConfig(parseAzureConfigText(AKS_AZURE_JSON), "file", { env: {} });
    expect(config.subscriptionId).toBe("sub-1");
    expect(config.resourceGroup).toBe("MC_rg_aks_westeurope");
    expect(config.vmType).toBe("vmss");
    expect(config.authentication).toEqual({ method: "userAssignedIdentity", clientId: "kubelet-client-id" });
    expect(config.endpoints.resourceManagerEndpoint).toBe("https://management.azure.com/");
    expect(config.endpoints.activeDirectoryEndpoint).toBe("https://login.microsoftonline.com/");
    expect(config.endpoints.tokenAudience).toBe("https://management.azure.com/");
  });

  test("YAML is accepted, as aad-pod-identity's yaml.Unmarshal accepts it", () => {
    const config = parseAzureConfigText(
      "cloud: AzureChinaCloud\ntenantId: t\naadClientId: c\naadClientSecret: s\nuseManagedIdentityExtension: false\n",
    );
    const resolved = resolveCloudConfig(config, "file", { env: {} });
    expect(resolved.authentication).toEqual({
      method: "servicePrincipal",
      tenantId: "t",
      clientId: "c",
      clientSecret: "s",
    });
    expect(resolved.endpoints.resourceManagerEndpoint).toBe("https://management.chinacloudapi.cn/");
  });

  test("useManagedIdentityExtension without a client ID means system-assigned", () => {
    const config = parseAzureConfigText(
      JSON.stringify({ cloud: "azureusgovernmentcloud", useManagedIdentityExtension: true }),
    );
    const resolved = resolveCloudConfig(config, "file", { env: {} });
    expect(resolved.authentication).toEqual({ method: "systemAssignedIdentity" });
    expect(resolved.endpoints.name).toBe("AzureUSGovernmentCloud");
  });

  test("wrongly typed keys, non-objects and unknown clouds are reported, not cast", () => {
    expect(() => parseAzureConfigText(JSON.stringify({ tenantId: { nested: true } }))).toThrow(CloudConfigError);
    expect(() => parseAzureConfigText(JSON.stringify({ useManagedIdentityExtension: "maybe" }))).toThrow(
      /useManagedIdentityExtension/,
    );
    expect(() => parseAzureConfigText("[1,2]")).toThrow(/object/);
    expect(() => parseAzureConfigText("{ not: [json")).toThrow(CloudConfigError);
    expect(() =>
      resolveCloudConfig(
        parseAzureConfigText(JSON.stringify({ cloud: "MarsCloud", useManagedIdentityExtension: true })),
        "file",
        {
          env: {},
        },
      ),
    ).toThrow(/MarsCloud/);
  });

  test("a service principal without its secret is reported", () => {
    const error = (() => {
      try {
        resolveCloudConfig(parseAzureConfigText(JSON.stringify({ tenantId: "t", aadClientId: "c" })), "file", {
          env: {},
        });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(CloudConfigError);
    expect((error as CloudConfigError).problems).toEqual([
      "aadClientSecret (CLIENT_SECRET) is required for service principal authentication",
    ]);
  });
});

describe("environment variables", () => {
  test("the admin-secret variables map to the azure.json keys; USE_MSI is case-insensitive", () => {
    const env = {
      CLOUD: "AzureGermanCloud",
      TENANT_ID: "t",
      CLIENT_ID: "c",
      CLIENT_SECRET: "s",
      SUBSCRIPTION_ID: "sub",
      RESOURCE_GROUP: "rg",
      VM_TYPE: "standard",
      USE_MSI: "TRUE",
      USER_ASSIGNED_MSI_CLIENT_ID: "uami",
    };
    expect(azureConfigFromEnv(env)).toEqual({
      cloud: "AzureGermanCloud",
      tenantId: "t",
      aadClientId: "c",
      aadClientSecret: "s",
      subscriptionId: "sub",
      resourceGroup: "rg",
      vmType: "standard",
      useManagedIdentityExtension: true,
      userAssignedIdentityID: "uami",
    });
    expect(azureConfigFromEnv({ USE_MSI: "yes" }).useManagedIdentityExtension).toBe(false);
    expect(azureConfigFromEnv({ USE_MSI: "True" }).useManagedIdentityExtension).toBe(true);
  });

  test("loadCloudConfig without a path reads the environment; an empty CLOUD means AzurePublicCloud", async () => {
    const config = await loadCloudConfig({ env: { TENANT_ID: "t", CLIENT_ID: "c", CLIENT_SECRET: "s" } });
    expect(config.source).toBe("env");
    expect(config.endpoints.name).toBe("AzurePublicCloud");
    expect(config.authentication.method).toBe("servicePrincipal");
  });
});

describe("endpoints", () => {
  test("AzureStackCloud reads the file named by AZURE_ENVIRONMENT_FILEPATH; audience is its ARM endpoint", () => {
    const files: Record<string, string> = {
      "/etc/kubernetes/akscustom.json": JSON.stringify({
        name: "AzureStackCloud",
        resourceManagerEndpoint: "https://management.local.azurestack.external/",
        activeDirectoryEndpoint: "https://adfs.local.azurestack.external/",
      }),
    };
    const config = resolveCloudConfig(
      parseAzureConfigText(JSON.stringify({ cloud: "AzureStackCloud", useManagedIdentityExtension: true })),
      "file",
      {
        env: { AZURE_ENVIRONMENT_FILEPATH: "/etc/kubernetes/akscustom.json" },
        readEnvironmentFile: (path) => files[path] ?? "",
      },
    );
    expect(config.endpoints).toEqual({
      name: "AzureStackCloud",
      resourceManagerEndpoint: "https://management.local.azurestack.external/",
      activeDirectoryEndpoint: "https://adfs.local.azurestack.external/",
      tokenAudience: "https://management.local.azurestack.external/",
    });
  });

  test("AzureStackCloud without the variable, or with a bad file, is reported", () => {
    const stack = parseAzureConfigText(JSON.stringify({ cloud: "azurestackcloud", useManagedIdentityExtension: true }));
    expect(() => resolveCloudConfig(stack, "file", { env: {} })).toThrow(/AZURE_ENVIRONMENT_FILEPATH/);
    expect(() =>
      resolveCloudConfig(stack, "file", {
        env: { AZURE_ENVIRONMENT_FILEPATH: "/x" },
        readEnvironmentFile: () => JSON.stringify({ resourceManagerEndpoint: "not a url" }),
      }),
    ).toThrow(/resourceManagerEndpoint/);
  });

  test("overrides point ARM and AAD at emulators but keep the cloud's token audience", () => {
    const config = resolveCloudConfig(parseAzureConfigText(AKS_AZURE_JSON), "file", {
      env: {},
      overrides: {
        resourceManagerEndpoint: "http://127.0.0.1:4000",
        activeDirectoryEndpoint: "https://127.0.0.1:4001/",
      },
    });
    expect(config.endpoints.resourceManagerEndpoint).toBe("http://127.0.0.1:4000");
    expect(config.endpoints.activeDirectoryEndpoint).toBe("https://127.0.0.1:4001/");
    expect(config.endpoints.tokenAudience).toBe("https://management.azure.com/");
    expect(() =>
      resolveCloudConfig(parseAzureConfigText(AKS_AZURE_JSON), "file", {
        env: {},
        overrides: { resourceManagerEndpoint: "ftp://x" },
      }),
    ).toThrow(/resourceManagerEndpoint/);
  });
});

describe("watchCloudConfig", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  const spFile = (secret: string) =>
    JSON.stringify({ cloud: "AzurePublicCloud", tenantId: "t", aadClientId: "c", aadClientSecret: secret });

  function nextEvent<T>(register: (resolve: (value: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no event within 5 s")), 5000);
      register((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  }

  test("a rewritten or replaced file is reloaded; a bad new file keeps the old config and is reported", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cloud-config-"));
    dirs.push(dir);
    const path = join(dir, "azure.json");
    writeFileSync(path, spFile("one"));
    let onChange: ((config: CloudConfig) => void) | undefined;
    let onError: ((error: CloudConfigError) => void) | undefined;
    const watcher = await watchCloudConfig({
      path,
      env: {},
      debounceMs: 20,
      onChange: (config) => onChange?.(config),
      onError: (error) => onError?.(error),
    });
    try {
      expect(watcher.current().aadClientSecret).toBe("one");

      const changed = nextEvent<CloudConfig>((resolve) => {
        onChange = resolve;
      });
      writeFileSync(path, spFile("two"));
      expect((await changed).aadClientSecret).toBe("two");
      expect(watcher.current().aadClientSecret).toBe("two");

      const failed = nextEvent<CloudConfigError>((resolve) => {
        onError = resolve;
      });
      writeFileSync(path, JSON.stringify({ tenantId: "t", aadClientId: "c" }));
      expect((await failed).problems.join()).toContain("aadClientSecret");
      expect(watcher.current().aadClientSecret).toBe("two");

      // Atomic replace (write elsewhere, rename over), as editors and Kubernetes volume updates do.
      const replaced = nextEvent<CloudConfig>((resolve) => {
        onChange = resolve;
      });
      writeFileSync(join(dir, "azure.json.tmp"), spFile("three"));
      renameSync(join(dir, "azure.json.tmp"), path);
      expect((await replaced).aadClientSecret).toBe("three");
    } finally {
      watcher.close();
    }
  });

  test("a bad file at start is an error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cloud-config-"));
    dirs.push(dir);
    const path = join(dir, "azure.json");
    writeFileSync(path, "cloud: [");
    await expect(watchCloudConfig({ path, env: {} })).rejects.toBeInstanceOf(CloudConfigError);
    await expect(loadCloudConfig({ path: join(dir, "missing.json"), env: {} })).rejects.toThrow(/cannot read/);
  });
});
