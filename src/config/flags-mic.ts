// MIC flags: the original's names and defaults (cmd/mic/main.go, v1.8.17), plus ours, marked "(new)".
import { boolFlag, durationFlag, intFlag, listFlag, portFlag, positiveFloatFlag, stringFlag } from "./flag-spec.ts";

export const micFlags = {
  kubeconfig: stringFlag("kubeconfig", "", "Path to a kubeconfig; empty uses $KUBECONFIG, then the in-cluster config."),
  cloudconfig: stringFlag(
    "cloudconfig",
    "",
    "Path to the cloud config (azure.json); empty reads CLOUD, TENANT_ID, CLIENT_ID, ... from the environment.",
  ),
  forceNamespaced: boolFlag(
    "forceNamespaced",
    false,
    "Match identities, bindings and assignments only within a namespace (env FORCENAMESPACED=true does the same).",
  ),
  syncRetryDurationMs: durationFlag(
    "syncRetryDuration",
    "3600s",
    "Interval of the periodic full reconcile that catches errors and drift.",
    { positive: true },
  ),
  leaderElectionInstance: stringFlag(
    "leader-election-instance",
    "",
    "Leader election holder identity (default: the host name).",
  ),
  leaderElectionNamespace: stringFlag("leader-election-namespace", "default", "Namespace of the leader election lock."),
  leaderElectionName: stringFlag("leader-election-name", "aad-pod-identity-mic", "Name of the leader election lock."),
  leaderElectionDurationMs: durationFlag(
    "leader-election-duration",
    "15s",
    "Leader lease duration (renew deadline is half, retry period a quarter).",
    { positive: true },
  ),
  httpProbePort: portFlag("http-probe-port", 8080, "Port of the /healthz liveness probe (all interfaces)."),
  prometheusPort: portFlag("prometheus-port", 8888, "Port of the Prometheus /metrics endpoint (all interfaces)."),
  enableScaleFeatures: boolFlag("enableScaleFeatures", false, "Deprecated for MIC and without effect; accepted."),
  createDeleteBatch: intFlag(
    "createDeleteBatch",
    20,
    "How many AzureAssignedIdentity creates/updates/deletes run in parallel per node or scale set.",
    { min: 1 },
  ),
  // Raised from the original's 5: a record costs two writes (create, then status), so 5/s spread a
  // 1,000-pod wave over ~400 s whatever ARM did (bench/mic-assign.ts, --clientQps table).
  clientQps: positiveFloatFlag(
    "clientQps",
    50,
    "Writes per second (and burst) MIC sends to the Kubernetes API server (changed: the original's default was 5).",
  ),
  immutableUserMsis: listFlag(
    "immutable-user-msis",
    "Comma-separated client IDs of user-assigned identities never removed from a VM or scale set.",
  ),
  configMapName: stringFlag(
    "config-map-name",
    "aad-pod-identity-config",
    "ConfigMap (in MIC's namespace) that records the one-time type upgrade.",
  ),
  typeUpgradeStatusKey: stringFlag(
    "type-upgrade-status-key",
    "type-upgrade-status",
    "Key in that ConfigMap recording the type upgrade.",
  ),
  enableTypeUpgrade: boolFlag("enable-type-upgrade", true, "Run the one-time rewrite of old AzureAssignedIdentities."),
  updateUserMsiMaxRetry: intFlag(
    "update-user-msi-max-retry",
    2,
    "Retries of an ARM identity update after dropping identities ARM refused.",
    { min: 0 },
  ),
  updateUserMsiRetryIntervalMs: durationFlag("update-user-msi-retry-interval", "1s", "Wait between those retries."),
  identityAssignmentReconcileIntervalMs: durationFlag(
    "identity-assignment-reconcile-interval",
    "3m",
    "Interval of the drift check that re-adds identities Assigned objects need but ARM lacks.",
  ),
  unassignGracePeriodMs: durationFlag(
    "unassign-grace-period",
    "30s",
    "(new) How long an identity no pod needs any more stays on a VM or scale set before it is removed.",
  ),
};
