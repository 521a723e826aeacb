// NMI flags (also used by --role managed): the original's names and defaults (cmd/nmi/main.go, v1.8.17),
// plus ours, marked "(new)".
import { boolFlag, choiceFlag, durationFlag, intFlag, ipFlag, portFlag, secondsFlag, stringFlag } from "./flag-spec.ts";

export const nmiFlags = {
  nmiListenAddress: ipFlag("nmi-listen-address", "127.0.0.1", "Address the token server binds."),
  nmiPort: portFlag("nmi-port", 2579, "Port of the token server (the DNAT target for pod IMDS traffic)."),
  metadataIp: ipFlag("metadata-ip", "169.254.169.254", "IMDS address: matched by the DNAT rule and used upstream."),
  metadataPort: portFlag("metadata-port", 80, "IMDS port: matched by the DNAT rule and used upstream."),
  node: stringFlag("node", "", "Name of this node (default: $NODE_NAME)."),
  iptUpdateIntervalMs: secondsFlag("ipt-update-interval-sec", 60, "Seconds between iptables rule checks.", 1),
  forceNamespaced: boolFlag(
    "forceNamespaced",
    false,
    "Match identities only within the pod's namespace (env FORCENAMESPACED=true does the same; implied by managed).",
  ),
  micNamespace: stringFlag("MICNamespace", "default", "Namespace of MIC, whose own token requests are let through."),
  httpProbePort: portFlag("http-probe-port", 8080, "Port of the /healthz probe (the chart uses 8085)."),
  retryAttemptsForCreated: intFlag(
    "retry-attempts-for-created",
    16,
    "Wait budget, in retry intervals, for an assignment to appear or leave Created.",
    { min: 0 },
  ),
  retryAttemptsForAssigned: intFlag(
    "retry-attempts-for-assigned",
    4,
    "Extra wait budget, in retry intervals, for a Created assignment to become Assigned.",
    { min: 0 },
  ),
  findIdentityRetryIntervalMs: secondsFlag(
    "find-identity-retry-interval",
    5,
    "Seconds per retry interval of that wait budget.",
    0,
  ),
  enableScaleFeatures: boolFlag(
    "enableScaleFeatures",
    true,
    "Watch only the AzureAssignedIdentities labelled with this node's name.",
  ),
  blockInstanceMetadata: boolFlag("block-instance-metadata", false, "Answer 403 to /metadata/instance requests."),
  metadataHeaderRequired: boolFlag(
    "metadata-header-required",
    true,
    "Require the header 'Metadata: true' on token and proxied requests.",
  ),
  prometheusPort: portFlag("prometheus-port", 9090, "Port of the Prometheus /metrics endpoint (all interfaces)."),
  operationMode: choiceFlag(
    "operation-mode",
    "standard",
    ["standard", "managed"] as const,
    "standard (identities assigned by MIC) or managed (pre-assigned; requires --forceNamespaced). Case-insensitive.",
    { caseInsensitive: true },
  ),
  allowNetworkPluginKubenet: boolFlag(
    "allow-network-plugin-kubenet",
    false,
    "Run even when the kubelet uses kubenet (see the project's kubenet notes).",
  ),
  kubeletConfig: stringFlag(
    "kubelet-config",
    "/etc/default/kubelet",
    "File checked for --network-plugin=kubenet at start.",
  ),
  setRetryAfterHeader: boolFlag(
    "set-retry-after-header",
    false,
    "Answer 503 with 'Retry-After: 20' instead of 404 while an identity is not assigned yet.",
  ),
  enableConntrackDeletion: boolFlag(
    "enable-conntrack-deletion",
    false,
    "After installing the rules, delete conntrack entries for TCP to the IMDS address and port.",
  ),
  hostIp: stringFlag("host-ip", "", "Legacy (charts for NMI <= 1.6.1 pass it); accepted and ignored."),
  cleanup: boolFlag("cleanup", false, "(new) Remove the iptables interception and exit."),
  tokenCache: boolFlag("token-cache", true, "(new) Cache tokens per identity and resource."),
  tokenCacheMaxAgeMs: durationFlag("token-cache-max-age", "1h", "(new) Longest time a cached token is served."),
  tokenRefreshBeforeMs: durationFlag(
    "token-refresh-before",
    "5m",
    "(new) Fetch a fresh token when a cached one expires within this time.",
  ),
  imdsMaxConcurrent: intFlag("imds-max-concurrent", 5, "(new) Most IMDS requests in flight at once.", { min: 1 }),
  imdsMaxRps: intFlag("imds-max-rps", 20, "(new) Most IMDS requests per second.", { min: 1 }),
  identityPropagationRetryMs: durationFlag(
    "identity-propagation-retry",
    "60s",
    "(new) How long IMDS answers 'Identity not found' are retried right after an assignment.",
  ),
  maxHeaderBytes: intFlag("max-header-bytes", 16384, "(new) Largest request header block accepted.", { min: 1024 }),
};
