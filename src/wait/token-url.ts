// The token request the application itself would send: IMDS's path and api-version, the resource and
// at most one identity parameter.
import type { WaitTokenCheck } from "../config/wait-types.ts";

export const imdsTokenApiVersion = "2018-02-01";

export function tokenRequestUrl(check: WaitTokenCheck): string {
  const url = new URL(`${check.metadataUrl}/metadata/identity/oauth2/token`);
  url.searchParams.set("api-version", imdsTokenApiVersion);
  url.searchParams.set("resource", check.resource);
  if (check.selector) url.searchParams.set(check.selector.param, check.selector.value);
  return url.toString();
}
