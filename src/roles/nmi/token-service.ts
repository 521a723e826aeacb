// Where tokens come from: the cache first, then the node IMDS (type 0 and excepted pods, always through
// the node-wide budget) or AAD (types 1 and 2). IMDS's "Identity not found" right after an assignment
// (propagation) is retried for a bounded time before the caller sees it.
import type { AzureIdentity } from "../../kube/crds.ts";
import { IdentityType } from "../../kube/crds.ts";
import type { ImdsIdentityRequest, Token, TokenUpstream } from "./ports.ts";
import { UpstreamTokenError } from "./ports.ts";
import { type CacheTags, type TokenCache, TokenCacheKeys, type TokenSource } from "./token-cache.ts";
import type { UpstreamBudget } from "./upstream-budget.ts";

export interface TokenBundle {
  tokens: Token[];
  /** The earliest expiry among the tokens (what the cache goes by). */
  expiresOnMs: number;
  /** The answer for a cache hit, made once per bundle (a warm request allocates none). */
  hit?: TokenResult;
}

export interface TokenContext {
  /** Fairness key in the upstream budget: the calling pod. */
  callerKey: string;
  /** Cache tags: the keys of the identity, binding and assignment behind the token (needed on a miss). */
  tags: CacheTags;
  /** When NMI saw the assignment become Assigned; "Identity not found" is retried only shortly after. */
  assignedAtMs?: number;
}
// No abort signal on purpose: a fetch is shared by every caller that joins it, so one caller going
// away must not fail the others.

export interface TokenResult {
  tokens: Token[];
  source: TokenSource;
  /** A cache hit: until when (epoch ms) the same tokens may be served as they are, with nothing to do. */
  freshUntilMs?: number;
}

/**
 * What the HTTP server needs; TokenService implements it, tests fake it. A token already in the cache is
 * answered synchronously (no promise), anything else asynchronously.
 */
export interface TokenProvider {
  forIdentity(identity: AzureIdentity, resource: string, context: TokenContext): TokenResult | Promise<TokenResult>;
  /**
   * Excepted and MIC pods: the node identity they name, by client id or else by resource id (both "":
   * system-assigned), straight from IMDS.
   */
  forExceptedPod(
    clientId: string,
    resource: string,
    context: TokenContext,
    resourceId?: string,
  ): TokenResult | Promise<TokenResult>;
}

export interface UpstreamObserver {
  /** One upstream call ended (status null: transport failure). */
  upstreamCall?(kind: "imds" | "aad", durationMs: number, status: number | null, userAssigned: boolean): void;
}

export interface TokenServiceOptions {
  cache: TokenCache<TokenBundle>;
  budget: UpstreamBudget;
  upstream: TokenUpstream;
  /** How long after an assignment IMDS "Identity not found" is retried (--identity-propagation-retry). */
  propagationRetryMs: number;
  /** Attempts for IMDS 429 / 5xx / transport errors before giving up (the original's ADAL made 5). */
  transientAttempts?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  observer?: UpstreamObserver;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function isTransient(error: unknown): boolean {
  if (!(error instanceof UpstreamTokenError)) return false;
  return error.status === null || error.status === 429 || error.status >= 500;
}

export class TokenService implements TokenProvider {
  readonly #options: TokenServiceOptions;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #keys = new TokenCacheKeys();

  constructor(options: TokenServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
  }

  forIdentity(identity: AzureIdentity, resource: string, context: TokenContext): TokenResult | Promise<TokenResult> {
    const spec = identity.spec;
    if (spec.type === IdentityType.UserAssignedMSI) {
      // Without a client id IMDS would answer with the node's own default identity.
      if (spec.clientID.trim() === "") {
        return Promise.reject(
          new Error(`AzureIdentity ${identity.metadata.namespace}/${identity.metadata.name} has no clientID`),
        );
      }
      return this.#cachedImds(spec.clientID, "", resource, context, true);
    }
    const key = this.#keys.of("sp", spec.clientID, spec.tenantID, resource);
    const fresh = this.#options.cache.fresh(key);
    if (fresh) return this.#hitOf(key, fresh);
    return this.#cachedAad(key, identity, resource, context);
  }

  async #cachedAad(key: string, identity: AzureIdentity, resource: string, context: TokenContext) {
    const { value, source } = await this.#options.cache.get(key, context.tags, async () => {
      const started = this.#now();
      try {
        const tokens = await this.#options.upstream.aad(identity, resource);
        this.#options.observer?.upstreamCall?.("aad", this.#now() - started, 200, false);
        return bundle(tokens);
      } catch (error) {
        const status = error instanceof UpstreamTokenError ? error.status : null;
        this.#options.observer?.upstreamCall?.("aad", this.#now() - started, status, false);
        throw error;
      }
    });
    return { tokens: value.tokens, source };
  }

  /** The answer for a fresh cache entry, made once per stored bundle (a warm request allocates none). */
  #hitOf(key: string, bundle: TokenBundle): TokenResult {
    bundle.hit ??= Object.freeze({
      tokens: bundle.tokens,
      source: "cache" as const,
      freshUntilMs: this.#options.cache.freshUntilMs(key),
    });
    return bundle.hit;
  }

  forExceptedPod(
    clientId: string,
    resource: string,
    context: TokenContext,
    resourceId = "",
  ): TokenResult | Promise<TokenResult> {
    // IMDS takes one identity selector: client_id wins, as identity matching does.
    const byResourceId = clientId === "" ? resourceId : "";
    return this.#cachedImds(clientId, byResourceId, resource, context, clientId !== "" || resourceId !== "");
  }

  /** `msiResourceId` is used only when `clientId` is "". The request object is made only on a miss. */
  #cachedImds(
    clientId: string,
    msiResourceId: string,
    resource: string,
    context: TokenContext,
    userAssigned: boolean,
  ): TokenResult | Promise<TokenResult> {
    const key = msiResourceId
      ? this.#keys.of("msi-res", msiResourceId, "", resource)
      : this.#keys.of("msi", clientId, "", resource);
    const fresh = this.#options.cache.fresh(key);
    if (fresh) return this.#hitOf(key, fresh);
    const request: ImdsIdentityRequest = msiResourceId ? { clientId, resource, msiResourceId } : { clientId, resource };
    return this.#imdsThroughCache(key, request, context, userAssigned);
  }

  async #imdsThroughCache(
    key: string,
    request: ImdsIdentityRequest,
    context: TokenContext,
    userAssigned: boolean,
  ): Promise<TokenResult> {
    const { value, source } = await this.#options.cache.get(key, context.tags, async () =>
      bundle([await this.#imdsWithRetries(request, context, userAssigned)]),
    );
    return { tokens: value.tokens, source };
  }

  async #imdsWithRetries(request: ImdsIdentityRequest, context: TokenContext, userAssigned: boolean) {
    const attempts = this.#options.transientAttempts ?? 3;
    let transientFailures = 0;
    let delayMs = 500;
    for (;;) {
      try {
        return await this.#options.budget.run(context.callerKey, async () => {
          const started = this.#now();
          try {
            const token = await this.#options.upstream.imds(request);
            this.#options.observer?.upstreamCall?.("imds", this.#now() - started, 200, userAssigned);
            return token;
          } catch (error) {
            const status = error instanceof UpstreamTokenError ? error.status : null;
            this.#options.observer?.upstreamCall?.("imds", this.#now() - started, status, userAssigned);
            throw error;
          }
        });
      } catch (error) {
        const propagating =
          error instanceof UpstreamTokenError &&
          error.identityNotFound &&
          context.assignedAtMs !== undefined &&
          this.#now() + delayMs < context.assignedAtMs + this.#options.propagationRetryMs;
        const transient = isTransient(error) && ++transientFailures < attempts;
        if (!propagating && !transient) throw error;
        const retryAfterMs =
          error instanceof UpstreamTokenError && error.retryAfterSeconds ? error.retryAfterSeconds * 1000 : 0;
        await this.#sleep(Math.min(Math.max(delayMs, retryAfterMs), 10_000));
        delayMs = Math.min(delayMs * 2, 5000);
      }
    }
  }
}

function bundle(tokens: Token[]): TokenBundle {
  if (tokens.length === 0) throw new UpstreamTokenError(null, "token source returned no token");
  return { tokens, expiresOnMs: Math.min(...tokens.map((t) => t.expiresOnMs)) };
}
