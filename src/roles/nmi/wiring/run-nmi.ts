// NMI's composition root, shared by --role nmi (standard) and --role managed: --cleanup, kubenet check,
// the Kubernetes informers adapted to the core's ports, the token service over IMDS and AAD with one
// node-wide upstream budget, the node agent (server, interceptor, probe), /metrics, and shutdown on
// ctx.signal (rules kept unless NMI's own DaemonSet is being uninstalled). The two modes differ only in
// the informers they watch and the identity resolver.
import { createAadClient } from "../../../cloud/aad-client.ts";
import type { NmiConfig } from "../../../config/types.ts";
import { createKubeClient, type KubeClient, loadKubeConfig } from "../../../kube/client.ts";
import { type AzureIdentity, NODENAME_LABEL } from "../../../kube/crds.ts";
import { INDEX_BINDING_BY_NAMESPACED_SELECTOR } from "../../../kube/indexes.ts";
import type { Informer } from "../../../kube/informer.ts";
import {
  azureAssignedIdentityInformer,
  azureIdentityBindingInformer,
  azureIdentityInformer,
  azurePodIdentityExceptionInformer,
  podInformer,
} from "../../../kube/informers.ts";
import type { KubeObjectLike } from "../../../kube/store.ts";
import type { Logger } from "../../../observability/logger.ts";
import { startMetricsServer } from "../../../observability/metrics-server.ts";
import { userAgent } from "../../../version.ts";
import type { RoleContext } from "../../contract.ts";
import { managedIdentityResolver } from "../../managed/managed-resolver.ts";
import { withAssignHint } from "../../managed/vmss-hint.ts";
import { assignmentTag, bindingTag, identityTag, secretTag } from "../cache-tags.ts";
import { type IdentityResolver, standardIdentityResolver } from "../identity-resolver.ts";
import { createImdsProxy } from "../imds-proxy.ts";
import type { CommandRunner, InterceptorLogger } from "../iptables.ts";
import { checkKubenet } from "../kubenet.ts";
import { NmiMetrics } from "../nmi-metrics.ts";
import { cleanupInterception, type NodeAgent, startNodeAgent } from "../node-agent.ts";
import { TokenCache } from "../token-cache.ts";
import { tokenRequestLineWriter } from "../token-request-line.ts";
import { type TokenBundle, type TokenProvider, TokenService } from "../token-service.ts";
import { UpstreamBudget } from "../upstream-budget.ts";
import { invalidateOnChange } from "./cache-invalidation.ts";
import { ChangeCounter } from "./change-counter.ts";
import { InformerAssignedIdentities, InformerExceptions, InformerPodLookup } from "./informer-ports.ts";
import { referencedSecrets } from "./secret-retention.ts";
import { SecretReader } from "./secrets.ts";
import { createTokenUpstream } from "./token-upstream.ts";
import { ownPodFromEnv, uninstallCheck } from "./uninstall-check.ts";

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

function interceptorLog(logger: Logger): InterceptorLogger {
  return {
    info: (fields, message) => logger.info({ ...fields }, message),
    warn: (fields, message) => logger.warn({ ...fields }, message),
    error: (fields, message) => logger.error({ ...fields }, message),
  };
}

interface ModeWiring {
  informers: Informer<KubeObjectLike>[];
  resolver: IdentityResolver;
  /** The identities NMI may hand out now (their Secrets are the ones worth watching). */
  identities: () => Iterable<AzureIdentity | null | undefined>;
  tokens: (service: TokenProvider) => TokenProvider;
  assignedAtMs?: InformerAssignedIdentities["assignedAtMs"];
}

function standardMode(
  client: KubeClient,
  config: NmiConfig,
  logger: Logger,
  cache: TokenCache<TokenBundle>,
): ModeWiring {
  const records = azureAssignedIdentityInformer(client, {
    logger,
    ...(config.enableScaleFeatures ? { labelSelector: `${NODENAME_LABEL}=${config.node}` } : {}),
  });
  const assigned = new InformerAssignedIdentities(records);
  // The record embeds the identity and binding it was made from; MIC rewrites or deletes it when
  // either changes, so its changes are the ones that invalidate tokens here.
  invalidateOnChange(records, cache, assignmentTag);
  return {
    informers: [records as unknown as Informer<KubeObjectLike>],
    resolver: standardIdentityResolver({
      source: assigned,
      budget: {
        retryAttemptsForCreated: config.retryAttemptsForCreated,
        retryAttemptsForAssigned: config.retryAttemptsForAssigned,
        findIdentityRetryIntervalMs: config.findIdentityRetryIntervalMs,
      },
      forceNamespaced: config.forceNamespaced,
      holdUntilAssigned: !config.setRetryAfterHeader,
    }),
    identities: () => records.list().map((record) => record.spec.azureIdentityRef),
    tokens: (service) => service,
    assignedAtMs: (record) => assigned.assignedAtMs(record),
  };
}

function managedMode(client: KubeClient, logger: Logger, cache: TokenCache<TokenBundle>): ModeWiring {
  const identities = azureIdentityInformer(client, { logger });
  const bindings = azureIdentityBindingInformer(client, { logger });
  invalidateOnChange(identities, cache, identityTag);
  invalidateOnChange(bindings, cache, bindingTag);
  return {
    informers: [identities, bindings] as unknown as Informer<KubeObjectLike>[],
    resolver: managedIdentityResolver({
      bindings: (namespace, selector) =>
        bindings.byIndex(INDEX_BINDING_BY_NAMESPACED_SELECTOR, `${namespace}/${selector}`),
      identity: (namespace, name) => identities.get(namespace, name),
    }),
    identities: () => identities.list(),
    tokens: withAssignHint,
  };
}

/** What tests replace: the iptables command runner (default: the real iptables). */
export interface NmiSeams {
  iptablesRunner?: CommandRunner;
}

/** (--retry-attempts-for-created + --retry-attempts-for-assigned) × --find-identity-retry-interval. */
export function assignmentBudgetMs(config: NmiConfig): number {
  return (config.retryAttemptsForCreated + config.retryAttemptsForAssigned) * config.findIdentityRetryIntervalMs;
}

export async function runNmi(config: NmiConfig, ctx: RoleContext, seams: NmiSeams = {}): Promise<number> {
  const log = ctx.logger;
  const managed = config.operationMode === "managed";

  const agentTarget = {
    listenAddress: config.nmiListenAddress,
    port: config.nmiPort,
    metadataIp: config.metadataIp,
    metadataPort: config.metadataPort,
    log: interceptorLog(log),
    ...(seams.iptablesRunner ? { runner: seams.iptablesRunner } : {}),
  };
  // Before the kubenet check: removing the interception must work on any node, whatever its kubelet.
  if (config.cleanup) {
    try {
      await cleanupInterception(agentTarget);
      log.info("iptables interception removed (--cleanup)");
      return 0;
    } catch (error) {
      log.error({ err: describe(error) }, "cleanup failed");
      return 1;
    }
  }

  const kubenet = await checkKubenet({
    allowNetworkPluginKubenet: config.allowNetworkPluginKubenet,
    kubeletConfigPath: config.kubeletConfig,
  });
  if (!kubenet.ok) {
    log.error({ kubeletConfig: config.kubeletConfig }, kubenet.message);
    return 1;
  }
  if (!config.node) {
    log.error("the node name is required: pass --node or set NODE_NAME");
    return 1;
  }

  let client: KubeClient;
  try {
    const kubeConfig = loadKubeConfig({
      env: config.kubeconfig ? { ...process.env, KUBECONFIG: config.kubeconfig } : process.env,
    });
    client = createKubeClient(kubeConfig, { userAgent: userAgent("NMI", config.customUserAgent) });
  } catch (error) {
    log.error({ err: describe(error) }, "cannot build the Kubernetes client");
    return 1;
  }

  const metrics = new NmiMetrics(ctx.metrics.registry);
  const budget = new UpstreamBudget({
    maxConcurrent: config.imdsMaxConcurrent,
    maxPerSecond: config.imdsMaxRps,
    onGranted: (waitMs) => metrics.upstreamWaited(waitMs),
  });
  metrics.trackUpstreamQueue(() => budget.queueDepth);
  const cache = new TokenCache<TokenBundle>({
    enabled: config.tokenCache,
    maxAgeMs: config.tokenCacheMaxAgeMs,
    refreshBeforeMs: config.tokenRefreshBeforeMs,
    onBackgroundError: (key, error) => log.warn({ key, err: describe(error) }, "background token refresh failed"),
  });

  const changes = new ChangeCounter();
  const pods = podInformer(client, { logger: log, fieldSelector: `spec.nodeName=${config.node}` });
  const exceptions = azurePodIdentityExceptionInformer(client, { logger: log });
  const mode = managed ? managedMode(client, log, cache) : standardMode(client, config, log, cache);
  const secrets = new SecretReader({
    client,
    logger: log,
    // Unknown (not stopped for it) until the identities have been listed.
    referenced: () =>
      mode.informers.every((informer) => informer.hasSynced()) ? referencedSecrets(mode.identities()) : undefined,
    // Longer than a busy identity's token refresh interval, so its Secret is not re-listed for nothing.
    idleMs: config.tokenCacheMaxAgeMs + 15 * 60_000,
    onChange: (namespace, name) => {
      changes.bump();
      cache.invalidate(secretTag(namespace, name));
    },
    onReadError: (namespace, name, error) => {
      metrics.kubernetesErrors.inc({ operation_type: "get_secret" });
      log.warn({ secret: `${namespace}/${name}`, err: error.message }, "cannot read a service principal's secret");
    },
  });
  const informers = [pods, exceptions, ...mode.informers] as unknown as Informer<KubeObjectLike>[];
  // Any change to what a token answer is decided from ends the reuse of remembered answers.
  for (const informer of informers) changes.countEventsOf(informer);

  const service = new TokenService({
    cache,
    budget,
    upstream: createTokenUpstream({
      imdsBaseUrl: `http://${config.metadataIp}:${config.metadataPort}`,
      aad: createAadClient(),
      readSecret: (namespace, name) => secrets.read(namespace, name),
    }),
    propagationRetryMs: config.identityPropagationRetryMs,
    observer: metrics,
  });

  for (const informer of informers) informer.start();
  const cachesSynced = Promise.all(informers.map((informer) => informer.synced)).then(() => {
    log.info({ mode: config.operationMode, node: config.node }, "informer caches synced");
  });
  cachesSynced.catch(() => {});

  let agent: NodeAgent;
  let metricsServer: ReturnType<typeof startMetricsServer>;
  try {
    agent = await startNodeAgent(
      {
        ...agentTarget,
        probePort: config.httpProbePort,
        iptUpdateIntervalMs: config.iptUpdateIntervalMs,
        enableConntrackDeletion: config.enableConntrackDeletion,
        metrics,
      },
      {
        config: {
          metadataHeaderRequired: config.metadataHeaderRequired,
          blockInstanceMetadata: config.blockInstanceMetadata,
          setRetryAfterHeader: config.setRetryAfterHeader,
          micNamespace: config.micNamespace,
          maxHeaderBytes: config.maxHeaderBytes,
          assignmentBudgetMs: assignmentBudgetMs(config),
        },
        pods: new InformerPodLookup(pods),
        exceptions: new InformerExceptions(exceptions),
        resolveIdentity: mode.resolver,
        tokens: mode.tokens(service),
        // The server passes each proxied call's caller IP, so pods queue apart as for token calls.
        proxy: createImdsProxy({
          metadataIp: config.metadataIp,
          metadataPort: config.metadataPort,
          budget,
          onThrottled: () => metrics.upstreamThrottled.inc({ upstream: "imds" }),
        }),
        metrics,
        // One structured line per token request; the client ID is already redacted by the server.
        logTokenRequest: tokenRequestLineWriter(log),
        logError: (error, context) => log.error({ ...context, err: describe(error) }, "unexpected error"),
        ...(mode.assignedAtMs ? { assignedAtMs: mode.assignedAtMs } : {}),
        changeVersion: () => changes.version,
      },
      cachesSynced,
    );
  } catch (error) {
    log.error({ err: describe(error) }, "cannot start the NMI server or probe");
    await Promise.allSettled([...informers.map((informer) => informer.stop()), secrets.stop()]);
    return 1;
  }
  try {
    metricsServer = startMetricsServer({ port: config.prometheusPort, registry: ctx.metrics });
  } catch (error) {
    log.error({ err: describe(error) }, "cannot start the metrics server");
    await agent.stop({ uninstalling: false });
    await Promise.allSettled([...informers.map((informer) => informer.stop()), secrets.stop()]);
    return 1;
  }
  log.info(
    {
      mode: config.operationMode,
      node: config.node,
      listen: `${config.nmiListenAddress}:${agent.server.port}`,
      probePort: agent.probe?.port,
      metricsPort: metricsServer.port,
    },
    "NMI serving",
  );

  const ownPod = ownPodFromEnv(process.env);
  const cannotTell =
    "POD_NAME / POD_NAMESPACE are not set (the chart sets them from the downward API), so NMI cannot tell an uninstall from a restart: it will keep its iptables rules when it stops; `pod-identity --role nmi --cleanup` removes them";
  if (!ownPod) log.warn(cannotTell);

  await untilAborted(ctx.signal);
  let uninstalling = false;
  try {
    if (!ownPod) log.info(cannotTell);
    uninstalling = await uninstallCheck(client, ownPod)();
  } catch (error) {
    // Unknown means keep the rules: failing closed is the safe side.
    log.warn({ err: describe(error) }, "cannot tell whether NMI is being uninstalled; keeping the iptables rules");
  }
  log.info(
    { uninstalling },
    uninstalling ? "NMI shutting down: removing the iptables rules" : "NMI shutting down: keeping the iptables rules",
  );
  let code = 0;
  try {
    await agent.stop({ uninstalling });
  } catch (error) {
    log.error({ err: describe(error) }, "stopping NMI failed");
    code = 1;
  }
  await Promise.allSettled([...informers.map((informer) => informer.stop()), secrets.stop(), metricsServer.stop()]);
  return code;
}
