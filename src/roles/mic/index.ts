// The MIC role (§1.1): cloud config, Kubernetes clients and informers, Lease leader election, the
// controller on the leader only, /healthz and /metrics. Start-up order follows the original; what
// differs, and why:
// - Informers run on every replica, so a standby that wins the lease starts from warm caches.
// - Losing the lease does not exit the process (the original called os.Exit): every write port is
//   tied to the leadership signal, so no write starts and none in flight completes once it aborts;
//   the controller is dropped and the process campaigns again as a standby.
// - A clean shutdown releases the lease, so a standby takes over at once.
// - Type upgrade (§4.10) is not implemented: it re-PUT every identity, binding and exception once so
//   pre-v1.6 PascalCase fields (ClientID, ResourceID, Selector, ...) were re-serialised in camelCase.
//   With the v1 CRDs those fields are pruned by the API server, so there is nothing left to upgrade;
//   doing it would only need ConfigMap and CR write rights the chart does not grant. The flag (on by
//   default, as in the original) is accepted and a warning says so; --enable-type-upgrade=false silences it.
import type { MicConfig } from "../../config/types.ts";
import { createKubeClient, loadKubeConfig } from "../../kube/client.ts";
import { EventRecorder } from "../../kube/events.ts";
import { LeaderElector } from "../../kube/leader-election.ts";
import type { Logger } from "../../observability/logger.ts";
import { startMetricsServer } from "../../observability/metrics-server.ts";
import { userAgent } from "../../version.ts";
import type { RoleRunner } from "../contract.ts";
import { compatibilityNotices } from "./compatibility-notices.ts";
import { MicController } from "./controller.ts";
import type { EventPort, LogPort } from "./ports.ts";
import { ApiReachability } from "./wiring/api-reachability.ts";
import { armIdentityPort } from "./wiring/arm-adapter.ts";
import { type MicCloud, micCloudSettings, openMicCloud } from "./wiring/cloud.ts";
import { startHealthServer } from "./wiring/health.ts";
import { MicInformers } from "./wiring/informer-bridge.ts";
import { createMicMetrics } from "./wiring/mic-metrics.ts";
import { recordStorePort } from "./wiring/record-store.ts";

/** The original's event source component. */
const EVENT_COMPONENT = "aadpodidentity.k8s.io";

function logPort(logger: Logger): LogPort {
  return {
    debug: (message, fields) => logger.debug(fields ?? {}, message),
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
    error: (message, fields) => logger.error(fields ?? {}, message),
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

export const run: RoleRunner<MicConfig> = async (config, ctx) => {
  const log = ctx.logger;
  for (const notice of compatibilityNotices(config))
    if (notice.level === "warn") log.warn({}, notice.message);
    else log.info({}, notice.message);
  const metrics = createMicMetrics(ctx.metrics);
  const agent = userAgent("MIC", config.customUserAgent);

  const kubeConfig = loadKubeConfig({
    env: config.kubeconfig ? { ...process.env, KUBECONFIG: config.kubeconfig } : process.env,
  });
  const reachability = new ApiReachability();
  // Informers, lease and record writes: no client-side limit here (the controller limits its own
  // writes by --clientQps), so a burst of writes never delays a lease renewal.
  const client = reachability.observe(createKubeClient(kubeConfig, { userAgent: agent }));
  const eventClient = reachability.observe(
    createKubeClient(kubeConfig, { userAgent: agent, rateLimit: { qps: config.clientQps } }),
  );

  // The leader's controller, told when azure.json changes (cluster identity, fallback scope).
  let controller: MicController | undefined;
  let cloud: MicCloud;
  try {
    cloud = await openMicCloud({
      path: config.cloudconfig,
      env: config.cloudEnv,
      userAgentPrefix: agent,
      onReload: (next) => {
        log.info({ path: config.cloudconfig }, "cloud config changed; ARM client re-created");
        controller?.setCloudSettings(micCloudSettings(config.immutableUserMsis, next));
      },
      onError: (error) => log.error({ path: config.cloudconfig, err: error.message }, "cloud config reload failed"),
    });
  } catch (error) {
    log.error({ err: describe(error) }, "cannot initialise the cloud provider");
    return 1;
  }

  const events = new EventRecorder({ client: eventClient, component: EVENT_COMPONENT, logger: log });
  let active = false;
  const informers = new MicInformers(client, log, {
    onAssigned: (_record, podCreated) => {
      if (podCreated !== undefined) metrics.podAssigned((Date.now() - podCreated) / 1000);
    },
  });

  let health: ReturnType<typeof startHealthServer>;
  let metricsServer: ReturnType<typeof startMetricsServer>;
  try {
    health = startHealthServer(config.httpProbePort, () => ({ active, reachability: reachability.state() }));
    metricsServer = startMetricsServer({ port: config.prometheusPort, registry: ctx.metrics });
  } catch (error) {
    log.error({ err: describe(error) }, "cannot start the probe or metrics server");
    cloud.close();
    return 1;
  }
  log.info({ healthPort: health.port, metricsPort: metricsServer.port }, "serving /healthz and /metrics");
  informers.start();

  const lead = async (leadership: AbortSignal) => {
    metrics.leaderElected();
    metrics.setLeader(true);
    try {
      await informers.synced(leadership);
    } catch {
      return; // leadership ended (or shutdown) before the caches synced
    }
    if (leadership.aborted) return;
    const eventPort: EventPort = {
      emit(event) {
        if (leadership.aborted) return;
        events.event(
          {
            apiVersion: event.object.apiVersion,
            kind: event.object.kind,
            namespace: event.object.namespace,
            name: event.object.name,
            ...(event.object.uid ? { uid: event.object.uid } : {}),
          },
          event.type,
          event.reason,
          event.message,
        );
      },
    };
    const term = new MicController(
      {
        forceNamespaced: config.forceNamespaced,
        // From the config as it is now: it may have been reloaded since start.
        ...micCloudSettings(config.immutableUserMsis, cloud.config()),
        unassignGracePeriodMs: config.unassignGracePeriodMs,
        createDeleteBatch: config.createDeleteBatch,
        clientQps: config.clientQps,
        updateUserMsiMaxRetry: config.updateUserMsiMaxRetry,
        updateUserMsiRetryIntervalMs: config.updateUserMsiRetryIntervalMs,
        identityAssignmentReconcileIntervalMs: config.identityAssignmentReconcileIntervalMs,
        syncRetryDurationMs: config.syncRetryDurationMs,
      },
      {
        arm: armIdentityPort({ client: cloud.client, signal: leadership, metrics }),
        records: recordStorePort({ client, signal: leadership, metrics }),
        events: eventPort,
        log: logPort(log),
        onRunFinished: (_key, durationMs) => metrics.observeRun(durationMs / 1000),
      },
    );
    informers.attach(term);
    term.start();
    controller = term;
    metrics.setQueueDepthSource(() => term.queueDepths());
    active = true;
    log.info("MIC controller started on the leader");
    leadership.addEventListener(
      "abort",
      () => {
        active = false;
        informers.detach();
        term.stop();
        if (controller === term) controller = undefined;
        metrics.setQueueDepthSource(undefined);
        log.warn({ reason: describe(leadership.reason) }, "controller stopped: no longer the leader");
      },
      { once: true },
    );
  };

  const elector = new LeaderElector({
    client,
    namespace: config.leaderElectionNamespace,
    name: config.leaderElectionName,
    identity: config.leaderElectionInstance,
    leaseDurationMs: config.leaderElectionDurationMs,
    logger: log,
    events,
    onStartedLeading: (leadership) => void lead(leadership),
    onStoppedLeading: () => metrics.setLeader(false),
    onNewLeader: (holder) => log.info({ leader: holder }, "new leader observed"),
  });
  elector.start();

  await untilAborted(ctx.signal);
  log.info("MIC shutting down: releasing the lease");
  await elector.stop();
  await Promise.allSettled([informers.stop(), health.stop(), metricsServer.stop(), events.flush()]);
  cloud.close();
  return 0;
};
