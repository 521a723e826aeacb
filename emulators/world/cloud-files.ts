// The files MIC reads to reach the emulated Azure: azure.json (--cloudconfig) naming the cloud
// "AzureStackCloud", and the go-autorest environment file (AZURE_ENVIRONMENT_FILEPATH) that points
// that cloud's ARM and AAD endpoints at the emulators. This is the custom-cloud path aad-pod-identity
// itself supports, so the binary needs no emulator-only switch. Pure.

export interface ServicePrincipal {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export function azureJson(opts: {
  sp: ServicePrincipal;
  subscriptionId: string;
  resourceGroup: string;
  vmType: "vmss" | "standard";
}): string {
  const config = {
    cloud: "AzureStackCloud",
    tenantId: opts.sp.tenantId,
    aadClientId: opts.sp.clientId,
    aadClientSecret: opts.sp.clientSecret,
    subscriptionId: opts.subscriptionId,
    resourceGroup: opts.resourceGroup,
    vmType: opts.vmType,
    useManagedIdentityExtension: false,
    userAssignedIdentityID: "",
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** go-autorest Environment JSON; endpoints end with "/" as the built-in clouds' do. */
export function azureEnvironmentJson(opts: { armUrl: string; aadUrl: string }): string {
  const slash = (url: string) => (url.endsWith("/") ? url : `${url}/`);
  const environment = {
    name: "AzureStackCloud",
    resourceManagerEndpoint: slash(opts.armUrl),
    activeDirectoryEndpoint: slash(opts.aadUrl),
  };
  return `${JSON.stringify(environment, null, 2)}\n`;
}
