// Kubernetes API access for the roles: configuration (--kubeconfig, KUBECONFIG or in-cluster), one
// User-Agent and one client-side rate limiter for every request, client-node's generated APIs for
// single-object calls, and a raw JSON request for list/watch (informers need the wire JSON, not
// client-node's class instances with Date fields). Every failure surfaces as a KubeApiError.
import { delimiter } from "node:path";
import {
  CoordinationV1Api,
  CoreV1Api,
  type CoreV1Event,
  CustomObjectsApi,
  createConfiguration,
  HttpMethod,
  KubeConfig,
  type Middleware,
  PatchStrategy,
  RequestContext,
  ServerConfiguration,
  setHeaderOptions,
  type V1ConfigMap,
  type V1Lease,
  type V1Node,
  type V1NodeList,
  type V1Pod,
  type V1PodList,
  type V1Secret,
} from "@kubernetes/client-node";
import { KubeApiError, kubeApiErrorFrom, kubeCall } from "./errors.ts";
import { loadInCluster } from "./in-cluster.ts";
import { type RateLimit, RateLimiter } from "./rate-limiter.ts";
import { fetch as tlsAwareFetch } from "./undici-shim.ts";

export interface LoadKubeConfigOptions {
  /** The --kubeconfig flag; wins over KUBECONFIG. */
  kubeconfigPath?: string;
  /** Environment to read KUBECONFIG and KUBERNETES_SERVICE_HOST/PORT from. */
  env: Record<string, string | undefined>;
  /** Service-account directory for in-cluster mode (default /var/run/secrets/kubernetes.io/serviceaccount). */
  serviceAccountDir?: string;
}

/** Loads the configuration the way the original binaries do: flag, else KUBECONFIG, else in-cluster. */
export function loadKubeConfig(options: LoadKubeConfigOptions): KubeConfig {
  const kc = new KubeConfig();
  const files = options.kubeconfigPath
    ? [options.kubeconfigPath]
    : (options.env.KUBECONFIG ?? "").split(delimiter).filter((file) => file.length > 0);
  if (files.length === 0) {
    loadInCluster(kc, { env: options.env, serviceAccountDir: options.serviceAccountDir });
    return kc;
  }
  const [first, ...rest] = files as [string, ...string[]];
  kc.loadFromFile(first);
  for (const file of rest) {
    const more = new KubeConfig();
    more.loadFromFile(file);
    kc.mergeConfig(more, true);
  }
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${first}: no current context with a cluster`);
  return kc;
}

export interface KubeClientOptions {
  /** Sent on every request (src/version.ts `userAgent`). */
  userAgent: string;
  /** Client-side limit on requests (MIC: --clientQps for both qps and burst). Unlimited when absent. */
  rateLimit?: RateLimit;
}

export interface RawRequest {
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON-serialisable body. */
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface KubeClient {
  readonly kubeConfig: KubeConfig;
  /** API server base URL, without a trailing slash. */
  readonly server: string;
  readonly userAgent: string;
  /** client-node APIs configured with our User-Agent and rate limiter (errors are ApiException). */
  readonly coreApi: CoreV1Api;
  readonly coordinationApi: CoordinationV1Api;
  readonly customObjectsApi: CustomObjectsApi;
  /** Sends a request and returns the response when it is 2xx; otherwise throws KubeApiError. */
  request(method: HttpMethod, path: string, req?: RawRequest): Promise<Response>;
  /** `request` + JSON body. */
  requestJson(method: HttpMethod, path: string, req?: RawRequest): Promise<unknown>;
  readonly pods: {
    get(namespace: string, name: string): Promise<V1Pod>;
    list(namespace?: string, options?: ListOptions): Promise<V1PodList>;
  };
  readonly nodes: {
    get(name: string): Promise<V1Node>;
    list(options?: ListOptions): Promise<V1NodeList>;
  };
  readonly secrets: {
    get(namespace: string, name: string): Promise<V1Secret>;
  };
  readonly configMaps: {
    get(namespace: string, name: string): Promise<V1ConfigMap>;
    create(namespace: string, configMap: V1ConfigMap): Promise<V1ConfigMap>;
    replace(namespace: string, name: string, configMap: V1ConfigMap): Promise<V1ConfigMap>;
  };
  readonly events: {
    create(namespace: string, event: CoreV1Event): Promise<CoreV1Event>;
    /** JSON merge patch (RFC 7386). */
    mergePatch(namespace: string, name: string, patch: object): Promise<CoreV1Event>;
  };
  readonly leases: {
    get(namespace: string, name: string): Promise<V1Lease>;
    create(namespace: string, lease: V1Lease): Promise<V1Lease>;
    replace(namespace: string, name: string, lease: V1Lease): Promise<V1Lease>;
  };
}

/** Builds the client; throws when the configuration has no current cluster. */
export function createKubeClient(kc: KubeConfig, options: KubeClientOptions): KubeClient {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const server = cluster.server.replace(/\/+$/, "");
  const limiter = new RateLimiter(options.rateLimit ?? { qps: 0 });
  const userAgent = options.userAgent;

  // One middleware: client-node reverses its middleware array in place on every call, so the order of
  // several would flip between requests.
  const middleware: Middleware = {
    pre: async (ctx) => {
      await limiter.acquire();
      ctx.setHeaderParam("User-Agent", userAgent);
      return ctx;
    },
    post: async (response) => response,
  };
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [middleware],
  });
  const coreApi = new CoreV1Api(configuration);
  const coordinationApi = new CoordinationV1Api(configuration);
  const customObjectsApi = new CustomObjectsApi(configuration);
  const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

  async function request(method: HttpMethod, path: string, req: RawRequest = {}): Promise<Response> {
    const url = new URL(server + path);
    for (const [key, value] of Object.entries(req.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const what = `${method} ${url.pathname}`;
    const ctx = new RequestContext(url.toString(), method);
    let response: Response;
    try {
      await kc.applySecurityAuthentication(ctx);
      await limiter.acquire(req.signal);
      const headers: Record<string, string> = {
        ...ctx.getHeaders(),
        "User-Agent": userAgent,
        Accept: "application/json",
      };
      let body: string | undefined;
      if (req.body !== undefined) {
        body = JSON.stringify(req.body);
        headers["Content-Type"] = req.contentType ?? "application/json";
      }
      response = await tlsAwareFetch(url, {
        method,
        headers,
        body,
        signal: req.signal,
        dispatcher: ctx.getDispatcher(),
      });
    } catch (err) {
      if (err instanceof KubeApiError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new KubeApiError(0, undefined, `${what}: ${message}`, { cause: err });
    }
    if (response.status < 200 || response.status > 299) {
      const text = await response.text().catch(() => "");
      throw kubeApiErrorFrom(response.status, text, what);
    }
    return response;
  }

  async function requestJson(method: HttpMethod, path: string, req?: RawRequest): Promise<unknown> {
    const response = await request(method, path, req);
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new KubeApiError(response.status, undefined, `${method} ${path}: response is not JSON`, { cause: err });
    }
  }

  return {
    kubeConfig: kc,
    server,
    userAgent,
    coreApi,
    coordinationApi,
    customObjectsApi,
    request,
    requestJson,
    pods: {
      get: (namespace, name) =>
        kubeCall(`get pod ${namespace}/${name}`, () => coreApi.readNamespacedPod({ namespace, name })),
      list: (namespace, opts = {}) =>
        kubeCall(`list pods${namespace ? ` in ${namespace}` : ""}`, () =>
          namespace ? coreApi.listNamespacedPod({ namespace, ...opts }) : coreApi.listPodForAllNamespaces(opts),
        ),
    },
    nodes: {
      get: (name) => kubeCall(`get node ${name}`, () => coreApi.readNode({ name })),
      list: (opts = {}) => kubeCall("list nodes", () => coreApi.listNode(opts)),
    },
    secrets: {
      get: (namespace, name) =>
        kubeCall(`get secret ${namespace}/${name}`, () => coreApi.readNamespacedSecret({ namespace, name })),
    },
    configMaps: {
      get: (namespace, name) =>
        kubeCall(`get configmap ${namespace}/${name}`, () => coreApi.readNamespacedConfigMap({ namespace, name })),
      create: (namespace, body) =>
        kubeCall(`create configmap in ${namespace}`, () => coreApi.createNamespacedConfigMap({ namespace, body })),
      replace: (namespace, name, body) =>
        kubeCall(`replace configmap ${namespace}/${name}`, () =>
          coreApi.replaceNamespacedConfigMap({ namespace, name, body }),
        ),
    },
    events: {
      create: (namespace, body) =>
        kubeCall(`create event in ${namespace}`, () => coreApi.createNamespacedEvent({ namespace, body })),
      mergePatch: (namespace, name, body) =>
        kubeCall(`patch event ${namespace}/${name}`, () =>
          coreApi.patchNamespacedEvent({ namespace, name, body }, mergePatch),
        ),
    },
    leases: {
      get: (namespace, name) =>
        kubeCall(`get lease ${namespace}/${name}`, () => coordinationApi.readNamespacedLease({ namespace, name })),
      create: (namespace, body) =>
        kubeCall(`create lease in ${namespace}`, () => coordinationApi.createNamespacedLease({ namespace, body })),
      replace: (namespace, name, body) =>
        kubeCall(`replace lease ${namespace}/${name}`, () =>
          coordinationApi.replaceNamespacedLease({ namespace, name, body }),
        ),
    },
  };
}

export { HttpMethod };
