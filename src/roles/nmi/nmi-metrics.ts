// NMI's Prometheus metrics: the original's names (namespace aadpodidentity) with bounded labels, plus the
// new ones the issue asks for (requests by status, cache, upstream budget, assignment waits, iptables).
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { KeyedCounter, KeyedHistogram, SeriesKeys } from "../../observability/keyed-metrics.ts";

const PREFIX = "aadpodidentity";
const OPERATION_BUCKETS = [0.5, 1, 2, 3, 4, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100];
const UPSTREAM_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
const MAX_RESOURCE_LABELS = 50;

export type NmiRoute = "token" | "host_token" | "proxy" | "blocked" | "invalid" | "other";

export class NmiMetrics {
  readonly registry: Registry;
  // Updated on every request: keyed (keyed-metrics.ts), not prom-client's per-call label hashing.
  readonly operationsDuration: KeyedHistogram<"operation_type" | "status_code" | "namespace" | "resource">;
  readonly kubernetesErrors: Counter<"operation_type">;
  readonly imdsErrors: Counter<"operation_type">;
  readonly imdsDuration: Histogram<"operation_type">;
  readonly requests: KeyedCounter<"route" | "status_code">;
  readonly cache: KeyedCounter<"result">;
  readonly upstreamQueueDepth: Gauge;
  readonly upstreamWait: Histogram;
  readonly upstreamThrottled: Counter<"upstream">;
  readonly assignmentWait: KeyedHistogram<"outcome">;
  readonly interceptionActive: Gauge;
  readonly iptablesErrors: Counter;
  readonly #resources = new Set<string>();
  readonly #requestKeys = new SeriesKeys();
  readonly #operationKeys = new SeriesKeys();
  #queueDepthSource: (() => number) | null = null;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.operationsDuration = new KeyedHistogram({
      name: `${PREFIX}_nmi_operations_duration_seconds`,
      help: "Duration of token requests in seconds, including waits for assignment.",
      labelNames: ["operation_type", "status_code", "namespace", "resource"],
      buckets: OPERATION_BUCKETS,
      registers,
    });
    this.kubernetesErrors = new Counter({
      name: `${PREFIX}_kubernetes_api_operations_errors_count`,
      help: "Kubernetes lookups that failed (get_pod_list: no or several pods for a caller IP; get_secret: a service principal's Secret missing or unreadable).",
      labelNames: ["operation_type"],
      registers,
    });
    this.imdsErrors = new Counter({
      name: `${PREFIX}_imds_operations_errors_count`,
      help: "Token fetches that failed (adal_token_msi, adal_token_msi_userassignedid, adal_token).",
      labelNames: ["operation_type"],
      registers,
    });
    this.imdsDuration = new Histogram({
      name: `${PREFIX}_imds_operations_duration_seconds`,
      help: "Duration of token fetches from IMDS or AAD in seconds.",
      labelNames: ["operation_type"],
      buckets: UPSTREAM_BUCKETS,
      registers,
    });
    this.requests = new KeyedCounter({
      name: `${PREFIX}_nmi_requests_total`,
      help: "Requests answered, by route and status code.",
      labelNames: ["route", "status_code"],
      registers,
    });
    this.cache = new KeyedCounter({
      name: `${PREFIX}_nmi_token_cache_requests_total`,
      help: "Token lookups by result: hit (stored), shared (joined an in-flight fetch), miss.",
      labelNames: ["result"],
      registers,
    });
    const metrics = this;
    this.upstreamQueueDepth = new Gauge({
      name: `${PREFIX}_nmi_upstream_queue_depth`,
      help: "Calls waiting for the node IMDS budget.",
      registers,
      collect() {
        if (metrics.#queueDepthSource) this.set(metrics.#queueDepthSource());
      },
    });
    this.upstreamWait = new Histogram({
      name: `${PREFIX}_nmi_upstream_wait_seconds`,
      help: "Time calls waited for the node IMDS budget.",
      buckets: UPSTREAM_BUCKETS,
      registers,
    });
    this.upstreamThrottled = new Counter({
      name: `${PREFIX}_nmi_upstream_throttled_total`,
      help: "429 answers from upstream token services.",
      labelNames: ["upstream"],
      registers,
    });
    this.assignmentWait = new KeyedHistogram({
      name: `${PREFIX}_nmi_assignment_wait_seconds`,
      help: "Time token requests waited for their identity to be assigned, by outcome.",
      labelNames: ["outcome"],
      buckets: OPERATION_BUCKETS,
      registers,
    });
    this.interceptionActive = new Gauge({
      name: `${PREFIX}_nmi_interception_active`,
      help: "1 while the iptables interception is in place and verified.",
      registers,
    });
    this.iptablesErrors = new Counter({
      name: `${PREFIX}_nmi_iptables_errors_total`,
      help: "Failed iptables/sysctl/conntrack reconciliations.",
      registers,
    });
  }

  /**
   * The requested resource as a label: the original used it raw (unbounded); here it is cut to 100
   * characters and, past 50 distinct values, reported as "other".
   */
  resourceLabel(resource: string): string {
    const value = resource.slice(0, 100);
    if (this.#resources.has(value)) return value;
    if (this.#resources.size >= MAX_RESOURCE_LABELS) return "other";
    this.#resources.add(value);
    return value;
  }

  /** One request answered, on any route. */
  requestAnswered(route: NmiRoute, status: number): void {
    const key = this.#requestKeys.of2(route, status);
    if (!this.requests.incKnown(key)) this.requests.inc(key, { route, status_code: String(status) });
  }

  /** Where a token came from: hit (stored), shared (joined an in-flight fetch), miss (fetched). */
  cacheLookup(result: "hit" | "shared" | "miss" | "none"): void {
    if (!this.cache.incKnown(result)) this.cache.inc(result, { result });
  }

  /** A token request (pod or /host/token) finished; `resource` is the raw one (bounded here). */
  tokenRequestDone(operation: string, status: number, namespace: string, resource: string, seconds: number): void {
    const label = this.resourceLabel(resource);
    const key = this.#operationKeys.of4(operation, status, namespace, label);
    if (this.operationsDuration.observeKnown(key, seconds)) return;
    const labels = { operation_type: operation, status_code: String(status), namespace, resource: label };
    this.operationsDuration.observe(key, labels, seconds);
  }

  /** How long a request waited for its identity, by how the wait ended. */
  assignmentWaited(outcome: string, seconds: number): void {
    if (!this.assignmentWait.observeKnown(outcome, seconds)) this.assignmentWait.observe(outcome, { outcome }, seconds);
  }

  /** Reads the budget's queue depth at scrape time; use `upstreamWaited` as its onGranted callback. */
  trackUpstreamQueue(depth: () => number): void {
    this.#queueDepthSource = depth;
  }

  upstreamWaited(waitMs: number): void {
    this.upstreamWait.observe(waitMs / 1000);
  }

  upstreamCall(kind: "imds" | "aad", durationMs: number, status: number | null, userAssigned: boolean): void {
    const operation = kind === "aad" ? "adal_token" : userAssigned ? "adal_token_msi_userassignedid" : "adal_token_msi";
    this.imdsDuration.observe({ operation_type: operation }, durationMs / 1000);
    if (status !== 200) this.imdsErrors.inc({ operation_type: operation });
    if (status === 429) this.upstreamThrottled.inc({ upstream: kind });
  }
}
