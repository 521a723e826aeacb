// NMI's token server: one Hono app (non-strict routing, a single catch-all route) whose handler
// classifies every request as the original's gorilla/mux routes did (§5.2: path cleaning with a 301,
// case rules, the anti-bypass 400), finds the calling pod by source IP, resolves its identity and
// answers in IMDS's JSON shapes. Every failure is an IMDS-shaped JSON error; a malformed request is a
// 400, never a 500. The warm path (pod known, identity assigned, token cached) does no waiting and no
// allocation it can avoid: it runs for every token request on the node.

import { maxHeaderSize as runtimeMaxHeaderBytes } from "node:http";
import { Hono } from "hono";
import { LinearRouter } from "hono/router/linear-router";
import type { AzureAssignedIdentity } from "../../kube/crds.ts";
import { cacheTagsFor } from "./cache-tags.ts";
import { awaitsNewerPod } from "./caller-lookup.ts";
import { type Evaluation, type WaitClock, waitForCondition, wallClock } from "./change-wait.ts";
import { isExceptedPod, isMicPod } from "./exceptions.ts";
import type { FoundIdentity, IdentityResolver, Resolution } from "./identity-resolver.ts";
import type { IdentityRequest } from "./identity-selection.ts";
import {
  ambiguousPodError,
  ErrorText,
  type ImdsError,
  identityNotReady,
  imdsError,
  noIdentityForClientId,
  redactClientId,
} from "./imds-errors.ts";
import { andThen, type MaybePromise } from "./maybe-async.ts";
import type { NmiMetrics, NmiRoute } from "./nmi-metrics.ts";
import {
  type ExceptionSource,
  type ImdsProxy,
  type PodInfo,
  type PodLookup,
  type PodLookupResult,
  type Token,
  UpstreamTokenError,
} from "./ports.ts";
import { hasMetadataHeader } from "./request-classifier.ts";
import { type RequestTarget, RequestTargets, type TokenQuery } from "./request-target.ts";
import type { TokenSource } from "./token-cache.ts";
import { hostTokenBody, podTokenBlob } from "./token-json.ts";
import type { TokenContext, TokenProvider, TokenResult } from "./token-service.ts";
import { type WarmAnswer, WarmAnswers } from "./warm-answers.ts";

export interface NmiServerConfig {
  metadataHeaderRequired: boolean;
  blockInstanceMetadata: boolean;
  setRetryAfterHeader: boolean;
  micNamespace: string;
  /** --max-header-bytes: the whole header block (names + values). */
  maxHeaderBytes: number;
  /** Longest accepted query string. */
  maxQueryBytes?: number;
  /**
   * How long a source IP that no pod holds, or only pods being deleted hold, is waited for in the pod
   * informer, for a live pod to show up with it (the original retried an unknown IP 4 × 300 ms).
   */
  podLookupWaitMs?: number;
  /**
   * The longest a request may be held for its assignment: (--retry-attempts-for-created +
   * --retry-attempts-for-assigned) × --find-identity-retry-interval. Sets the server's idle timeout.
   */
  assignmentBudgetMs?: number;
}

export interface TokenRequestLog {
  pod: string;
  namespace: string;
  identity: string;
  resource: string;
  status: number;
  durationMs: number;
  cache: "hit" | "shared" | "miss" | "none";
  route: "token" | "host_token";
  excepted?: boolean;
  error?: string;
}

export interface NmiServerDeps {
  config: NmiServerConfig;
  pods: PodLookup;
  exceptions: ExceptionSource;
  resolveIdentity: IdentityResolver;
  tokens: TokenProvider;
  proxy: ImdsProxy;
  metrics?: NmiMetrics;
  /** One structured line per token request. */
  logTokenRequest?: (line: TokenRequestLog) => void;
  /** Unexpected errors (answered 500). */
  logError?: (error: unknown, context: object) => void;
  /** When NMI saw an assignment become Assigned (bounds IMDS "Identity not found" retries). */
  assignedAtMs?: (record: AzureAssignedIdentity) => number | undefined;
  /**
   * A number that changes whenever anything a token answer depends on may have changed (every event of
   * the informers behind pods, exceptions and identities; a Secret change). With it, a caller's warm
   * answer is reused while the number stands and its token is fresh (warm-answers.ts); without it,
   * every request takes the full path.
   */
  changeVersion?: () => number;
  clock?: WaitClock;
}

/**
 * Pure: whether NMI must measure each request's header block itself. Bun.serve already answers 431 to a
 * block bigger than the runtime's limit (node:http's maxHeaderSize, 16 KiB unless
 * --max-http-header-size says otherwise), so a --max-header-bytes at or above it needs no second count.
 */
export function mustCountHeaderBytes(maxHeaderBytes: number, runtimeLimit: number = runtimeMaxHeaderBytes): boolean {
  return !(runtimeLimit > 0 && maxHeaderBytes >= runtimeLimit);
}

function headerBytes(headers: Headers): number {
  let total = 0;
  // forEach, not for-of: no iterator and entry arrays per header on every request.
  headers.forEach((value, name) => {
    total += name.length + value.length + 4;
  });
  return total;
}

const JSON_CONTENT_TYPE = { "Content-Type": "application/json; charset=utf-8" } as const;

function errorResponse(error: ImdsError): Response {
  const headers = new Headers(JSON_CONTENT_TYPE);
  for (const [name, value] of Object.entries(error.headers ?? {})) headers.set(name, value);
  return new Response(JSON.stringify(error.body), { status: error.status, headers });
}

function jsonResponse(body: unknown): Response {
  return jsonTextResponse(JSON.stringify(body));
}

function jsonTextResponse(text: string): Response {
  return new Response(text, OK_JSON_INIT);
}

/** Why a token fetch failed → the original's status: upstream answered non-200 → 403, else 503. */
function tokenFailure(error: unknown): ImdsError {
  if (error instanceof UpstreamTokenError && error.status !== null) return imdsError(403, error.description);
  const message = error instanceof Error ? error.message : String(error);
  return imdsError(503, message);
}

function cacheLabel(source: TokenSource | undefined): TokenRequestLog["cache"] {
  if (source === "cache") return "hit";
  if (source === "shared") return "shared";
  return source === "upstream" ? "miss" : "none";
}

interface SocketAddressSource {
  requestIP?(request: Request): { address: string } | null;
}

/**
 * The request's source address from the Bun server, as the pod informer knows it; "" when
 * unknown. Asked of the server directly: hono/bun's getConnInfo builds two more objects per request.
 */
export function remoteAddressOf(env: unknown, request: Request): string {
  try {
    return normaliseRemoteAddress((env as SocketAddressSource | undefined)?.requestIP?.(request)?.address);
  } catch {
    return "";
  }
}

/** The source address as the pod informer knows it (IPv4-mapped IPv6 unwrapped). */
export function normaliseRemoteAddress(address: string | undefined): string {
  if (!address) return "";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

const DEFAULT_POD_LOOKUP_WAIT_MS = 1200;
/** The original's default assignment budget: (16 + 4) × 5 s. */
const DEFAULT_ASSIGNMENT_BUDGET_MS = 100_000;
/** Bun.serve's largest idleTimeout, in seconds. */
export const BUN_MAX_IDLE_TIMEOUT_S = 255;
/** Room above the waits for the token fetch itself (IMDS retries, the upstream queue). */
export const IDLE_TIMEOUT_MARGIN_MS = 15_000;

/** Pure: the longest a token request is legitimately held before it is answered. */
export function longestRequestWaitMs(config: Pick<NmiServerConfig, "podLookupWaitMs" | "assignmentBudgetMs">): number {
  return (
    (config.assignmentBudgetMs ?? DEFAULT_ASSIGNMENT_BUDGET_MS) + (config.podLookupWaitMs ?? DEFAULT_POD_LOOKUP_WAIT_MS)
  );
}

/**
 * Pure: Bun's idleTimeout (seconds) for a server whose requests may be held `longestWaitMs`: longer than
 * that plus a margin, so a held request is never cut, but idle connections are still reaped. Past Bun's
 * cap of 255 s it is 0 (never reap), the only setting that does not cut a legitimate wait.
 */
export function idleTimeoutSeconds(longestWaitMs: number, marginMs = IDLE_TIMEOUT_MARGIN_MS): number {
  const seconds = Math.ceil((longestWaitMs + marginMs) / 1000);
  return seconds > BUN_MAX_IDLE_TIMEOUT_S ? 0 : seconds;
}

const TOKEN_PATH_LABEL = "/metadata/identity/oauth2/token";
/** The assignment-wait metric's outcome label for each resolution. */
const WAIT_OUTCOME: Record<Resolution["kind"], string> = {
  found: "found",
  "not-ready": "not_ready",
  "not-found": "not_found",
  aborted: "aborted",
};
/**
 * One init for every 200 JSON answer. Its headers are a Headers object, not a plain one: the Response
 * copies them either way, but copying a Headers object cost about half as much (~0.4 µs per answer).
 */
const OK_JSON_INIT: ResponseInit = { status: 200, headers: new Headers(JSON_CONTENT_TYPE) };
const HOST_TOKEN_PATH_LABEL = "/host/token";

/** Hono's env for the NMI app: the request as Bun handed it over, and the server that knows its source. */
interface NmiBindings {
  request: Request;
  server: unknown;
}

/** The NMI app as Bun.serve (and tests) call it: the request, and the server it came through. */
export interface NmiApp {
  fetch(request: Request, server?: unknown): Response | Promise<Response>;
}

export function createNmiApp(deps: NmiServerDeps): NmiApp {
  const config = deps.config;
  const clock = deps.clock ?? wallClock;
  const maxQueryBytes = config.maxQueryBytes ?? 8192;
  const podLookupWaitMs = config.podLookupWaitMs ?? DEFAULT_POD_LOOKUP_WAIT_MS;
  const targets = new RequestTargets({ blockInstanceMetadata: config.blockInstanceMetadata });
  const countHeaderBytes = mustCountHeaderBytes(config.maxHeaderBytes);
  const warmAnswers = deps.changeVersion ? new WarmAnswers(deps.changeVersion) : undefined;

  const count = (route: NmiRoute, response: Response) => {
    deps.metrics?.requestAnswered(route, response.status);
    return response;
  };

  /**
   * The pod holding `ip`. Waits (on informer events, up to podLookupWaitMs) while no pod has it yet or
   * only terminating pods do (awaitsNewerPod: the IP may already be reused by a pod not seen yet); at the
   * deadline the lookup stands as it is then (a terminating pod that is still there is the caller).
   */
  const findPod = (ip: string, request: Request): PodLookupResult | Promise<PodLookupResult> => {
    const known = deps.pods.byIp(ip);
    return awaitsNewerPod(known) ? waitForPod(ip, request) : known;
  };
  const waitForPod = async (ip: string, request: Request): Promise<PodLookupResult> => {
    const deadline = clock.now() + podLookupWaitMs;
    const evaluate = (): Evaluation<PodLookupResult> => {
      const result = deps.pods.byIp(ip);
      if (!awaitsNewerPod(result) || clock.now() >= deadline) return { done: result };
      return { waitUntilMs: deadline };
    };
    const result = await waitForCondition(deps.pods, evaluate, request, clock);
    return result === "aborted" ? { kind: "none" } : result;
  };

  // A resolved identity's token context: its cache tags and when its assignment became Assigned. The token
  // service reads them only on a cache miss.
  const tagsOf = (found: FoundIdentity) => cacheTagsFor(found.identity, found.record, found.bindings);
  const assignedAtOf = (found: FoundIdentity) => (found.record ? deps.assignedAtMs?.(found.record) : undefined);
  /** /host/token's fetch (the pod route's request object is its own context). */
  const fetchTokens = (found: FoundIdentity, resource: string, callerKey: string) =>
    deps.tokens.forIdentity(found.identity, resource, {
      callerKey,
      tags: () => tagsOf(found),
      assignedAtMs: assignedAtOf(found),
    });

  const recordResolution = (resolution: Resolution) => {
    deps.metrics?.assignmentWaited(WAIT_OUTCOME[resolution.kind], resolution.waitedMs / 1000);
  };

  const unresolved = (resolution: Exclude<Resolution, { kind: "found" }>, request: IdentityRequest): ImdsError => {
    if (resolution.kind === "not-found") {
      const message = request.clientId
        ? `${noIdentityForClientId(redactClientId(request.clientId))}: ${resolution.message}`
        : resolution.message;
      return imdsError(404, message);
    }
    if (resolution.kind === "aborted") return imdsError(503, "client went away while waiting for its identity");
    return identityNotReady(resolution.message, config.setRetryAfterHeader);
  };

  /** The original's 400s for a token query whose values fit their limits: no resource, or an object_id. */
  const queryRefusal = (query: Readonly<TokenQuery>): ImdsError | undefined => {
    if (!query.resource) return imdsError(400, ErrorText.resourceEmpty);
    if (query.object_id) return imdsError(400, ErrorText.objectIdUnsupported);
    return undefined;
  };

  /**
   * Ends a token request (either route): completes its log record, observes its duration under
   * `operation` and `namespaceLabel` (only a namespace NMI knows, so labels stay bounded), writes its line.
   */
  const finishTokenRequest = (
    log: TokenRequestLog,
    startedMs: number,
    operation: string,
    namespaceLabel: string,
    response: Response,
    error?: string,
  ): Response => {
    log.status = response.status;
    log.durationMs = clock.now() - startedMs;
    if (error) log.error = error;
    deps.metrics?.tokenRequestDone(operation, response.status, namespaceLabel, log.resource, log.durationMs / 1000);
    deps.logTokenRequest?.(log);
    return response;
  };

  /**
   * One pod token request, as a chain of steps. Each step answers synchronously when it can (pod known,
   * identity assigned, token cached) and only a step that must wait returns a promise (maybe-async.ts).
   * The steps are methods, not closures, so a warm request allocates this object and its log record only.
   */
  class PodTokenRequest implements TokenContext {
    readonly started = clock.now();
    /** The change version this request's decisions were made under (an answer remembered carries it). */
    readonly version = warmAnswers?.version ?? 0;
    /** Whether any step waited (a pod lookup or an assignment): such an answer is not remembered. */
    waited = false;
    readonly log: TokenRequestLog = {
      pod: "",
      namespace: "",
      identity: "",
      resource: "",
      status: 0,
      durationMs: 0,
      cache: "none",
      route: "token",
    };
    query!: Readonly<TokenQuery>;
    identityRequest!: Readonly<IdentityRequest>;
    /** The identity the pod resolved to, once it has. */
    found?: FoundIdentity;

    constructor(
      readonly request: Request,
      readonly target: RequestTarget,
      readonly remote: string,
    ) {}

    answer(): MaybePromise<Response> {
      const { request, target, log } = this;
      if (config.metadataHeaderRequired && !hasMetadataHeader(request.headers.get("Metadata"))) {
        return this.fail(imdsError(400, ErrorText.metadataHeader));
      }
      if (!this.remote) return this.fail(imdsError(500, ErrorText.remoteAddressEmpty));
      const { query, identityRequest } = target;
      if (!query || !identityRequest) return this.fail(imdsError(400, ErrorText.tooLarge));
      log.resource = query.resource;
      const refusal = queryRefusal(query);
      if (refusal) return this.fail(refusal);
      this.query = query;
      this.identityRequest = identityRequest;
      const warm = warmAnswers?.find(this.remote, target, this.started);
      if (warm) return this.answerWarm(warm);
      if (identityRequest.clientId) log.identity = redactClientId(identityRequest.clientId);
      const finding = findPod(this.remote, request);
      if (finding instanceof Promise) this.waited = true;
      return finding instanceof Promise
        ? finding.then((lookup) => this.afterLookup(lookup))
        : this.afterLookup(finding);
    }

    afterLookup(lookup: PodLookupResult): MaybePromise<Response> {
      const { log, query, identityRequest } = this;
      if (lookup.kind === "none") {
        deps.metrics?.kubernetesErrors.inc({ operation_type: "get_pod_list" });
        return this.fail(imdsError(500, ErrorText.podListEmpty));
      }
      if (lookup.kind === "ambiguous") {
        deps.metrics?.kubernetesErrors.inc({ operation_type: "get_pod_list" });
        const names = lookup.pods.map((p) => `${p.namespace}/${p.name}`);
        return this.fail(ambiguousPodError(this.remote, names));
      }
      const pod = lookup.pod;
      log.pod = pod.name;
      log.namespace = pod.namespace;
      if (isExceptedPod(pod, deps.exceptions.inNamespace(pod.namespace)) || isMicPod(pod, config.micNamespace)) {
        log.excepted = true;
        let fetching: MaybePromise<TokenResult>;
        try {
          const context = { callerKey: this.remote, tags: [] };
          fetching = deps.tokens.forExceptedPod(
            identityRequest.clientId,
            query.resource,
            context,
            identityRequest.resourceId,
          );
        } catch (error) {
          return this.failed(error);
        }
        return this.answerWithTokens(fetching);
      }
      const resolving = deps.resolveIdentity(pod, identityRequest, this.request);
      if (resolving instanceof Promise) this.waited = true;
      return resolving instanceof Promise
        ? resolving.then((resolution) => this.afterResolution(resolution))
        : this.afterResolution(resolving);
    }

    /** A remembered answer: the same steps' outcome (metrics, line, body) without deciding it again. */
    answerWarm(warm: WarmAnswer): Response {
      this.log.pod = warm.pod;
      this.log.namespace = warm.namespace;
      recordResolution(warm.resolution);
      this.log.identity = redactClientId(warm.resolution.identity.spec.clientID);
      return this.tokensAnswer(warm.result);
    }

    afterResolution(resolution: Resolution): MaybePromise<Response> {
      recordResolution(resolution);
      if (resolution.kind !== "found") return this.fail(unresolved(resolution, this.identityRequest));
      this.log.identity = redactClientId(resolution.identity.spec.clientID);
      this.found = resolution;
      let fetching: MaybePromise<TokenResult>;
      try {
        // The request is its own token context (the getters below): a warm request builds none.
        fetching = deps.tokens.forIdentity(resolution.identity, this.query.resource, this);
      } catch (error) {
        return this.failed(error);
      }
      return this.answerWithTokens(fetching);
    }

    get callerKey(): string {
      return this.remote;
    }

    get tags(): readonly string[] {
      return this.found ? tagsOf(this.found) : [];
    }

    get assignedAtMs(): number | undefined {
      return this.found ? assignedAtOf(this.found) : undefined;
    }

    /** The answer for a token fetch, now or once it settles; a failure becomes its IMDS-shaped error. */
    answerWithTokens(fetching: MaybePromise<TokenResult>): MaybePromise<Response> {
      if (!(fetching instanceof Promise)) return this.tokensAnswer(fetching);
      return fetching.then(
        (result) => this.tokensAnswer(result),
        (error: unknown) => this.failed(error),
      );
    }

    tokensAnswer(result: TokenResult): Response {
      recordCache(result.source);
      this.log.cache = cacheLabel(result.source);
      this.rememberIfWarm(result);
      return this.finish(new Response(podTokenBlob(result.tokens, Date.now()), OK_JSON_INIT));
    }

    /** Remembers an answer decided at once from a fresh cached token (never an excepted pod's). */
    rememberIfWarm(result: TokenResult): void {
      const { found, log } = this;
      if (!warmAnswers || this.waited || !found || found.waitedMs !== 0 || log.excepted) return;
      if (result.source !== "cache" || result.freshUntilMs === undefined) return;
      warmAnswers.remember(this.remote, {
        target: this.target,
        version: this.version,
        pod: log.pod,
        namespace: log.namespace,
        resolution: found,
        result: result as TokenResult & { freshUntilMs: number },
      });
    }

    failed(error: unknown): Response {
      return this.fail(tokenFailure(error));
    }

    fail(error: ImdsError): Response {
      return this.finish(errorResponse(error), error.body.error_description);
    }

    finish(response: Response, error?: string): Response {
      return finishTokenRequest(this.log, this.started, TOKEN_PATH_LABEL, this.log.namespace, response, error);
    }
  }

  const podTokenRoute = (request: Request, target: RequestTarget, remote: string): MaybePromise<Response> =>
    new PodTokenRequest(request, target, remote).answer();

  const recordCache = (source: TokenSource) => deps.metrics?.cacheLookup(cacheLabel(source));

  const hostTokenRoute = async (request: Request, target: RequestTarget, remote: string): Promise<Response> => {
    const started = clock.now();
    const podNamespace = request.headers.get("podns") ?? "";
    const podName = request.headers.get("podname") ?? "";
    // The headers are the caller's word: only a pod NMI knows names a metric series (bounded labels).
    let labelNamespace = "";
    const log: TokenRequestLog = {
      pod: podName,
      namespace: podNamespace,
      identity: "",
      resource: target.rawResource,
      status: 0,
      durationMs: 0,
      cache: "none",
      route: "host_token",
    };
    const finish = (response: Response, error?: string) =>
      finishTokenRequest(log, started, HOST_TOKEN_PATH_LABEL, labelNamespace, response, error);
    const fail = (error: ImdsError) => finish(errorResponse(error), error.body.error_description);

    if (!podNamespace || !podName) return fail(imdsError(400, ErrorText.missingPodHeaders));
    if (remote !== "127.0.0.1") return fail(imdsError(500, ErrorText.notFromHost));
    const { query, identityRequest } = target;
    if (!query || !identityRequest) return fail(imdsError(400, ErrorText.tooLarge));
    const refusal = queryRefusal(query);
    if (refusal) return fail(refusal);
    const known = deps.pods.byName(podNamespace, podName);
    if (known) labelNamespace = known.namespace;
    const pod: PodInfo = known ?? {
      name: podName,
      namespace: podNamespace,
      uid: "",
      ip: "",
      phase: "",
      labels: {},
      ownerReferences: [],
    };
    const resolution = await deps.resolveIdentity(pod, identityRequest, request);
    recordResolution(resolution);
    // /host/token never answered with Retry-After in the original.
    if (resolution.kind !== "found") {
      const error = unresolved(resolution, identityRequest);
      return fail(error.status === 503 && resolution.kind === "not-ready" ? imdsError(404, resolution.message) : error);
    }
    log.identity = redactClientId(resolution.identity.spec.clientID);
    try {
      const result = await fetchTokens(resolution, query.resource, `host:${remote}`);
      recordCache(result.source);
      log.cache = cacheLabel(result.source);
      const tokens: Token[] = result.tokens;
      return finish(jsonResponse(hostTokenBody(tokens, resolution.identity.spec.clientID, Date.now())));
    } catch (error) {
      return fail(tokenFailure(error));
    }
  };

  const countedToken = (response: Response) => count("token", response);
  const countedHostToken = (response: Response) => count("host_token", response);

  const proxyRoute = async (request: Request, target: RequestTarget, remote: string): Promise<Response> => {
    try {
      return count("proxy", await deps.proxy.forward(request, remote || "unknown"));
    } catch (error) {
      deps.logError?.(error, { route: "proxy", path: target.pathname });
      return count("proxy", errorResponse(imdsError(500, ErrorText.upstreamUnavailable)));
    }
  };

  /** Synchronous for every answer that needs no waiting, the warm token path included. */
  const handle = (request: Request, remote: string): MaybePromise<Response> => {
    const target = targets.of(request.url);
    if (
      target.search.length > maxQueryBytes ||
      (countHeaderBytes && headerBytes(request.headers) > config.maxHeaderBytes)
    ) {
      return count("invalid", errorResponse(imdsError(400, ErrorText.tooLarge)));
    }
    const route = target.route;
    switch (route.kind) {
      case "token":
        return andThen(podTokenRoute(request, target, remote), countedToken);
      case "host-token":
        return hostTokenRoute(request, target, remote).then(countedHostToken);
      case "invalid-token-path":
        return count("invalid", errorResponse(imdsError(400, ErrorText.invalidRequest)));
      case "bad-path":
        return count("invalid", errorResponse(imdsError(400, ErrorText.badPath)));
      case "redirect":
        return count(
          "other",
          new Response(null, { status: 301, headers: { Location: route.location + target.search } }),
        );
      case "blocked-instance":
        return count("blocked", errorResponse(imdsError(403, ErrorText.blocked)));
      case "proxy": {
        if (config.metadataHeaderRequired && !hasMetadataHeader(request.headers.get("Metadata"))) {
          return count("proxy", errorResponse(imdsError(400, ErrorText.metadataHeader)));
        }
        return proxyRoute(request, target, remote);
      }
    }
  };

  // One catch-all route: handle() classifies the request itself (request-target.ts). The raw request and
  // the Bun server reach it through Hono's env, and LinearRouter matches it: c.req would build a
  // HonoRequest per request and the default RegExpRouter runs a regex over the path, which for a single
  // route cost ~10% of throughput at 256 concurrent clients.
  const app = new Hono<{ Bindings: NmiBindings }>({ strict: false, router: new LinearRouter() });
  app.all("*", (c) => handle(c.env.request, remoteAddressOf(c.env.server, c.env.request)));
  app.onError((error, c) => {
    deps.logError?.(error, { path: c.req.path });
    return errorResponse(imdsError(500, "internal error"));
  });
  return { fetch: (request, server) => app.fetch(request, { request, server }) };
}

export interface ServeOptions {
  hostname: string;
  port: number;
  /** The longest a request may be held: longestRequestWaitMs of the app's config. */
  longestWaitMs: number;
}

export interface RunningServer {
  port: number;
  hostname: string;
  stop(): Promise<void>;
}

/**
 * Serves the app with Bun.serve. A token request may be held for the whole assignment budget (100 s by
 * default), longer than Bun's 10 s default idle timeout, so the timeout is sized from that budget.
 */
export function serveNmi(app: NmiApp, options: ServeOptions): RunningServer {
  const server = Bun.serve({
    // Never Bun's development error page (stack traces) to a caller, whatever NODE_ENV says.
    development: false,
    hostname: options.hostname,
    port: options.port,
    idleTimeout: idleTimeoutSeconds(options.longestWaitMs),
    fetch: (request, bunServer) => app.fetch(request, bunServer),
  });
  return {
    port: server.port ?? options.port,
    hostname: options.hostname,
    stop: () => server.stop(true),
  };
}
