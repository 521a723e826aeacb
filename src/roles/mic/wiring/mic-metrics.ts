// MIC's Prometheus metrics: the original's (§6, same names, values in seconds) plus what §9.25 asks
// for: a leader gauge, per-target queue depth, ARM calls by operation and result, time spent
// throttled, and the time from a pod's creation to its identity being Assigned.
import { Gauge } from "prom-client";
import { type MetricsRegistry, prefixedMetricName } from "../../../observability/metrics.ts";

/** The original's ARM operation names (`operation_type`). */
export type ArmOperation = "vm_get" | "vm_update" | "vmss_get" | "vmss_update";

/** How one ARM call ended. */
export type ArmResult = "success" | "throttled" | "identity_error" | "not_found" | "deleting" | "error";

/** The original's kube operation names for MIC. */
export type KubeOperation =
  | "assigned_identity_addition"
  | "assigned_identity_deletion"
  | "assigned_identity_update"
  | "update_azure_assigned_identity_status";

const KUBE_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
const CLOUD_BUCKETS = [0.5, 1, 5, 10, 30, 60, 120, 300, 600, 900, 1200];
const CYCLE_BUCKETS = [0.5, 1, 5, 10, 30, 60, 120, 300, 600, 900, 1200];
const ASSIGN_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];

export interface MicMetrics {
  observeKube(operation: KubeOperation, seconds: number, failed: boolean): void;
  observeArm(operation: ArmOperation, seconds: number, result: ArmResult): void;
  /** A 429: calls to `target` are held back for `seconds`. */
  throttled(target: string, seconds: number): void;
  /** One run of one target's queue (the counterpart of the original's cycle). */
  observeRun(seconds: number): void;
  leaderElected(): void;
  setLeader(leading: boolean): void;
  podAssigned(seconds: number): void;
  /** Read at scrape time: outstanding work per target name. */
  setQueueDepthSource(source: (() => ReadonlyMap<string, number>) | undefined): void;
}

export function createMicMetrics(metrics: MetricsRegistry): MicMetrics {
  const addDuration = metrics.histogram(
    "assigned_identity_addition_duration_seconds",
    "Duration of AzureAssignedIdentity creations",
    KUBE_BUCKETS,
  );
  const addCount = metrics.counter("assigned_identity_addition_count", "AzureAssignedIdentity creations");
  const delDuration = metrics.histogram(
    "assigned_identity_deletion_duration_seconds",
    "Duration of AzureAssignedIdentity deletions (finalizer removal included)",
    KUBE_BUCKETS,
  );
  const delCount = metrics.counter("assigned_identity_deletion_count", "AzureAssignedIdentity deletions");
  const updDuration = metrics.histogram(
    "assigned_identity_update_duration_seconds",
    "Duration of AzureAssignedIdentity updates",
    KUBE_BUCKETS,
  );
  const updCount = metrics.counter("assigned_identity_update_count", "AzureAssignedIdentity updates");
  const kubeErrors = metrics.counter("kubernetes_api_operations_errors_count", "Kubernetes API errors", [
    "operation_type",
  ]);
  const cloudErrors = metrics.counter("cloud_provider_operations_errors_count", "ARM errors", ["operation_type"]);
  const cloudDuration = metrics.histogram(
    "cloud_provider_operations_duration_seconds",
    "ARM call duration (an update includes its long-running operation)",
    CLOUD_BUCKETS,
    ["operation_type"],
  );
  const armCalls = metrics.counter("cloud_provider_operations_total", "ARM calls by operation and result", [
    "operation_type",
    "result",
  ]);
  const throttledSeconds = metrics.counter(
    "cloud_provider_throttled_seconds_total",
    "Seconds of Retry-After ARM imposed, per VM or scale set",
    ["target"],
  );
  const cycleDuration = metrics.histogram(
    "mic_cycle_duration_seconds",
    "Duration of one reconcile run of one VM or scale set",
    CYCLE_BUCKETS,
  );
  const cycleCount = metrics.counter("mic_cycle_count", "Reconcile runs of VMs and scale sets");
  const elections = metrics.counter("mic_new_leader_election_count", "Times this process became leader");
  const leader = metrics.gauge("mic_leader", "1 while this process holds the leader lease");
  const assignLatency = metrics.histogram(
    "mic_pod_assignment_duration_seconds",
    "Time from a pod's creation to its AzureAssignedIdentity becoming Assigned",
    ASSIGN_BUCKETS,
  );
  let depthSource: (() => ReadonlyMap<string, number>) | undefined;
  const depthName = prefixedMetricName("mic_target_queue_depth");
  const existingDepth = metrics.registry.getSingleMetric(depthName);
  if (!existingDepth) {
    new Gauge({
      name: depthName,
      help: "AzureAssignedIdentity changes not yet done on a VM or scale set",
      labelNames: ["target"],
      registers: [metrics.registry],
      collect() {
        this.reset();
        for (const [target, depth] of depthSource?.() ?? []) this.set({ target }, depth);
      },
    });
  }
  leader.set(0);

  return {
    observeKube(operation, seconds, failed) {
      if (failed) kubeErrors.inc({ operation_type: operation });
      switch (operation) {
        case "assigned_identity_addition":
          addDuration.observe(seconds);
          if (!failed) addCount.inc();
          return;
        case "assigned_identity_deletion":
          delDuration.observe(seconds);
          if (!failed) delCount.inc();
          return;
        case "assigned_identity_update":
          updDuration.observe(seconds);
          if (!failed) updCount.inc();
          return;
        case "update_azure_assigned_identity_status":
          return;
      }
    },
    observeArm(operation, seconds, result) {
      cloudDuration.observe({ operation_type: operation }, seconds);
      armCalls.inc({ operation_type: operation, result });
      if (result !== "success") cloudErrors.inc({ operation_type: operation });
    },
    throttled(target, seconds) {
      throttledSeconds.inc({ target }, seconds);
    },
    observeRun(seconds) {
      cycleDuration.observe(seconds);
      cycleCount.inc();
    },
    leaderElected() {
      elections.inc();
    },
    setLeader(leading) {
      leader.set(leading ? 1 : 0);
    },
    podAssigned(seconds) {
      assignLatency.observe(Math.max(0, seconds));
    },
    setQueueDepthSource(source) {
      depthSource = source;
    },
  };
}
