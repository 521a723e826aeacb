// Flags of `pod-identity wait` (new in pod-identity; the original had no such command).
import * as v from "valibot";
import { boolFlag, durationFlag, type FlagSpec, portFlag, stringFlag } from "./flag-spec.ts";

// A DNS name as Kubernetes allows for hosts: dot-separated labels of letters, digits and hyphens.
const hostnamePattern =
  /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** An IP address or a host name; "" stands for the default resolved from the environment. */
export const hostSchema = v.union([v.pipe(v.string(), v.ip()), v.pipe(v.string(), v.regex(hostnamePattern))]);

function hostFlag(name: string, help: string): FlagSpec<string> {
  return {
    name,
    boolean: false,
    defaultText: "",
    typeName: "host",
    expected: "an IP address or a host name",
    help,
    schema: v.union([v.literal(""), hostSchema]),
  };
}

/** http or https URL; kept without a trailing slash so paths can be appended. */
function baseUrlFlag(name: string, defaultText: string, help: string): FlagSpec<string> {
  return {
    name,
    boolean: false,
    defaultText,
    typeName: "url",
    expected: "an http:// or https:// URL without query or fragment",
    help,
    schema: v.pipe(
      v.string(),
      v.url(),
      v.check((text) => {
        const url = new URL(text);
        return (url.protocol === "http:" || url.protocol === "https:") && url.search === "" && url.hash === "";
      }),
      v.transform((text) => text.replace(/\/+$/, "")),
    ),
  };
}

export const waitFlags = {
  nmiHost: hostFlag("nmi-host", "Host of NMI's /healthz probe (default $HOST_IP, else 127.0.0.1)."),
  nmiProbePort: portFlag("nmi-probe-port", 8085, "Port of NMI's /healthz probe (NMI's --http-probe-port)."),
  timeoutMs: durationFlag(
    "timeout",
    "120s",
    "Give up after this long, counted from the start (covers both the probe and the token).",
    { positive: true },
  ),
  intervalMs: durationFlag("interval", "1s", "Pause between attempts (longer when the server sends Retry-After).", {
    positive: true,
  }),
  token: boolFlag(
    "token",
    false,
    "Once Active, also fetch a token through the metadata address, as the application will (needs --resource).",
  ),
  resource: stringFlag("resource", "", "Resource (audience) of the token, e.g. https://management.azure.com/."),
  clientId: stringFlag("client-id", "", "Ask for the identity with this client id (query client_id)."),
  resourceId: stringFlag("resource-id", "", "Ask for the identity with this ARM resource id (query msi_res_id)."),
  objectId: stringFlag("object-id", "", "Ask for the identity with this object id (query object_id)."),
  expectClientId: stringFlag(
    "expect-client-id",
    "",
    "Fail (exit 4) unless the token's appid/azp claim is this client id (case-insensitive).",
  ),
  expectObjectId: stringFlag(
    "expect-object-id",
    "",
    "Fail (exit 4) unless the token's oid claim is this object id (case-insensitive).",
  ),
  metadataUrl: baseUrlFlag(
    "metadata-url",
    "http://169.254.169.254",
    "Metadata endpoint for the token; the default crosses NMI's interception exactly as the application's request does.",
  ),
  quiet: boolFlag("quiet", false, "Print nothing on success (failures still print one line on stderr)."),
  help: boolFlag("help", false, "Show this help (-h works too)."),
};
