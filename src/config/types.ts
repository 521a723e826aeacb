// The typed configuration each role receives. Durations are milliseconds (suffix Ms), ports numbers.

export type LogFormat = "text" | "json";

export interface LoggingConfig {
  format: LogFormat;
  /** klog -v level: 0-3 info, >= 4 debug, >= 6 trace. */
  verbosity: number;
  // klog flags accepted for compatibility; they do not change where or how we log.
  vmodule: string;
  logtostderr: boolean;
  alsologtostderr: boolean;
  logDir: string;
  logFile: string;
  logFileMaxSize: number;
  logBacktraceAt: string;
  /** 0 INFO, 1 WARNING, 2 ERROR, 3 FATAL. */
  stderrthreshold: number;
  addDirHeader: boolean;
  skipHeaders: boolean;
  skipLogHeaders: boolean;
  oneOutput: boolean;
}

/** Cloud settings from the environment, used when --cloudconfig is empty (the cloud layer decides). */
export interface CloudEnv {
  cloud?: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  subscriptionId?: string;
  resourceGroup?: string;
  vmType?: string;
  /** USE_MSI, case-insensitive "true". */
  useMsi: boolean;
  userAssignedMsiClientId?: string;
  azureEnvironmentFilepath?: string;
}

interface CommonConfig {
  customUserAgent: string;
  /** Accepted, never acted on: no profiling endpoint is ever served. */
  enableProfile: boolean;
  logging: LoggingConfig;
}

export interface MicConfig extends CommonConfig {
  role: "mic";
  /** --kubeconfig, else $KUBECONFIG, else "" (in-cluster). */
  kubeconfig: string;
  cloudconfig: string;
  /** --forceNamespaced or FORCENAMESPACED=true. */
  forceNamespaced: boolean;
  syncRetryDurationMs: number;
  /** Defaults to the host name. */
  leaderElectionInstance: string;
  leaderElectionNamespace: string;
  leaderElectionName: string;
  leaderElectionDurationMs: number;
  httpProbePort: number;
  prometheusPort: number;
  enableScaleFeatures: boolean;
  createDeleteBatch: number;
  clientQps: number;
  /** Client IDs as written (trimmed, empties dropped); not lower-cased here. */
  immutableUserMsis: string[];
  configMapName: string;
  typeUpgradeStatusKey: string;
  enableTypeUpgrade: boolean;
  updateUserMsiMaxRetry: number;
  updateUserMsiRetryIntervalMs: number;
  identityAssignmentReconcileIntervalMs: number;
  unassignGracePeriodMs: number;
  /** MIC_POD_NAMESPACE (required). */
  micPodNamespace: string;
  cloudEnv: CloudEnv;
}

export interface NmiConfig extends CommonConfig {
  /** "managed" for --role managed and for --role nmi --operation-mode=managed. */
  role: "nmi" | "managed";
  operationMode: "standard" | "managed";
  /** $KUBECONFIG, else "" (in-cluster), as the original NMI. */
  kubeconfig: string;
  nmiListenAddress: string;
  nmiPort: number;
  metadataIp: string;
  metadataPort: number;
  /** --node, else $NODE_NAME. */
  node: string;
  /** --ipt-update-interval-sec, in ms. */
  iptUpdateIntervalMs: number;
  /** Always true in managed mode. */
  forceNamespaced: boolean;
  micNamespace: string;
  httpProbePort: number;
  retryAttemptsForCreated: number;
  retryAttemptsForAssigned: number;
  /** --find-identity-retry-interval (seconds), in ms. */
  findIdentityRetryIntervalMs: number;
  enableScaleFeatures: boolean;
  blockInstanceMetadata: boolean;
  metadataHeaderRequired: boolean;
  prometheusPort: number;
  allowNetworkPluginKubenet: boolean;
  kubeletConfig: string;
  setRetryAfterHeader: boolean;
  enableConntrackDeletion: boolean;
  /** Legacy --host-ip, ignored. */
  hostIp: string;
  cleanup: boolean;
  tokenCache: boolean;
  tokenCacheMaxAgeMs: number;
  tokenRefreshBeforeMs: number;
  imdsMaxConcurrent: number;
  imdsMaxRps: number;
  identityPropagationRetryMs: number;
  maxHeaderBytes: number;
}

export type RoleConfig = MicConfig | NmiConfig;

export type Command =
  | { kind: "help"; text: string }
  | { kind: "version" }
  | { kind: "run"; config: RoleConfig }
  | { kind: "validate"; config: RoleConfig };

export type ParseOutcome = { ok: true; command: Command } | { ok: false; exitCode: 2; message: string };
