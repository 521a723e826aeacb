// Token cache keyed by identity, resource and tenant (§9 item 16): concurrent requests for one key share
// one upstream call, tokens are refreshed ahead of expiry, and entries carry tags (identity, binding,
// assignment keys) so that a change behind a token drops it at once. The clock is injected for tests.
import { TupleMemo } from "../../support/tuple-memo.ts";

export interface ExpiringToken {
  /** When the token stops being valid, in epoch milliseconds. */
  expiresOnMs: number;
}

export interface TokenCacheOptions {
  /** When false nothing is stored or shared: every call fetches. */
  enabled: boolean;
  /** Longest time an entry is served after it was fetched, whatever the token's own lifetime. */
  maxAgeMs: number;
  /** A cached token expiring within this window is still served, and a refresh starts in the background. */
  refreshBeforeMs: number;
  /** A token with less validity left than this is never served from the cache. */
  minRemainingMs?: number;
  /** Upper bound on stored entries; the oldest are evicted first. */
  maxEntries?: number;
  now?: () => number;
  /** Background refreshes have no caller to fail; their errors come here. */
  onBackgroundError?: (key: string, error: unknown) => void;
}

/** Where an answer came from: a stored entry, another caller's in-flight fetch, or a fetch of its own. */
export type TokenSource = "cache" | "shared" | "upstream";

export interface CacheResult<T> {
  value: T;
  source: TokenSource;
}

interface Entry<T> {
  value: T;
  storedAtMs: number;
  tags: readonly string[];
}

interface Flight<T> {
  promise: Promise<T>;
  tags: readonly string[];
}

/**
 * The tags of an entry, or a function giving them: called only when a fetch starts (a cache hit, the
 * common case, never needs them).
 */
export type CacheTags = readonly string[] | (() => readonly string[]);

export class TokenCache<T extends ExpiringToken> {
  readonly #options: Required<Omit<TokenCacheOptions, "onBackgroundError">> &
    Pick<TokenCacheOptions, "onBackgroundError">;
  readonly #entries = new Map<string, Entry<T>>();
  readonly #flights = new Map<string, Flight<T>>();
  readonly #keysByTag = new Map<string, Set<string>>();
  // Bumped on invalidation so a fetch that started before it is not stored afterwards.
  readonly #tagGenerations = new Map<string, number>();

  constructor(options: TokenCacheOptions) {
    this.#options = {
      minRemainingMs: 30_000,
      maxEntries: 10_000,
      now: Date.now,
      ...options,
    };
  }

  get size(): number {
    return this.#entries.size;
  }

  get inFlight(): number {
    return this.#flights.size;
  }

  /**
   * The stored value for `key` when it can be served with nothing else to do (enabled, within its age
   * and lifetime, not yet due for a refresh); otherwise undefined, and get() decides. Synchronous: the
   * warm path of every token request.
   */
  fresh(key: string): T | undefined {
    if (!this.#options.enabled) return undefined;
    const entry = this.#entries.get(key);
    return entry && this.#standing(entry) === "fresh" ? entry.value : undefined;
  }

  /**
   * Until when (epoch ms, exclusive) the entry for `key` stays fresh, as fresh() judges it, if nothing
   * else happens to it (an invalidation or eviction ends it sooner); undefined without an entry.
   */
  freshUntilMs(key: string): number | undefined {
    if (!this.#options.enabled) return undefined;
    const entry = this.#entries.get(key);
    return entry ? this.#freshUntil(entry) : undefined;
  }

  async get(key: string, tags: CacheTags, fetch: () => Promise<T>): Promise<CacheResult<T>> {
    if (!this.#options.enabled) return { value: await fetch(), source: "upstream" };
    const entry = this.#entries.get(key);
    if (entry) {
      const standing = this.#standing(entry);
      if (standing !== "expired") {
        if (standing === "refresh-due" && !this.#flights.has(key)) this.#startBackgroundRefresh(key, tags, fetch);
        return { value: entry.value, source: "cache" };
      }
      this.#delete(key);
    }
    const flight = this.#flights.get(key);
    if (flight) return { value: await flight.promise, source: "shared" };
    return { value: await this.#fly(key, tags, fetch), source: "upstream" };
  }

  /** Drops every entry (and forgets every in-flight fetch) carrying `tag`; returns how many entries went. */
  invalidate(tag: string): number {
    this.#tagGenerations.set(tag, (this.#tagGenerations.get(tag) ?? 0) + 1);
    for (const [key, flight] of this.#flights) if (flight.tags.includes(tag)) this.#flights.delete(key);
    const keys = this.#keysByTag.get(tag);
    if (!keys) return 0;
    let dropped = 0;
    for (const key of [...keys]) if (this.#delete(key)) dropped++;
    return dropped;
  }

  clear(): void {
    for (const key of [...this.#entries.keys()]) this.#delete(key);
    for (const tag of this.#tagGenerations.keys())
      this.#tagGenerations.set(tag, (this.#tagGenerations.get(tag) ?? 0) + 1);
    this.#flights.clear();
  }

  /**
   * Where an entry stands now: servable as it is, servable while a refresh starts (within
   * refreshBeforeMs of its expiry or of its maximum age), or no longer servable.
   */
  #standing(entry: Entry<T>): "fresh" | "refresh-due" | "expired" {
    const now = this.#options.now();
    const remaining = entry.value.expiresOnMs - now;
    const age = now - entry.storedAtMs;
    if (remaining < this.#options.minRemainingMs || age >= this.#options.maxAgeMs) return "expired";
    return now < this.#freshUntil(entry) ? "fresh" : "refresh-due";
  }

  /**
   * The first moment (epoch ms) the entry is no longer fresh: within refreshBeforeMs of its expiry or of
   * its maximum age, or past either limit (the whole-millisecond clock makes "remaining ≥ minRemainingMs"
   * end one millisecond after expiry − minRemainingMs). The one definition of "fresh" here.
   */
  #freshUntil(entry: Entry<T>): number {
    const { refreshBeforeMs, minRemainingMs, maxAgeMs } = this.#options;
    return Math.min(
      entry.value.expiresOnMs - refreshBeforeMs,
      entry.value.expiresOnMs - minRemainingMs + 1,
      entry.storedAtMs + maxAgeMs - refreshBeforeMs,
      entry.storedAtMs + maxAgeMs,
    );
  }

  #fly(key: string, lazyTags: CacheTags, fetch: () => Promise<T>): Promise<T> {
    const tags = typeof lazyTags === "function" ? lazyTags() : lazyTags;
    const generations = tags.map((tag) => this.#tagGenerations.get(tag) ?? 0);
    const flight: Flight<T> = { promise: Promise.resolve(undefined as unknown as T), tags };
    const isCurrent = () => this.#flights.get(key) === flight;
    // Registered before fetch starts, so even a fetch that throws synchronously is unregistered.
    this.#flights.set(key, flight);
    flight.promise = (async () => {
      try {
        const value = await fetch();
        const tagsUnchanged = tags.every((tag, i) => (this.#tagGenerations.get(tag) ?? 0) === generations[i]);
        if (tagsUnchanged && isCurrent()) this.#store(key, tags, value);
        return value;
      } finally {
        if (isCurrent()) this.#flights.delete(key);
      }
    })();
    return flight.promise;
  }

  #startBackgroundRefresh(key: string, tags: CacheTags, fetch: () => Promise<T>): void {
    this.#fly(key, tags, fetch).catch((error: unknown) => this.#options.onBackgroundError?.(key, error));
  }

  #store(key: string, tags: readonly string[], value: T): void {
    this.#delete(key);
    while (this.#entries.size >= this.#options.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#delete(oldest.value);
    }
    this.#entries.set(key, { value, storedAtMs: this.#options.now(), tags });
    for (const tag of tags) {
      let keys = this.#keysByTag.get(tag);
      if (!keys) {
        keys = new Set();
        this.#keysByTag.set(tag, keys);
      }
      keys.add(key);
    }
  }

  #delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    for (const tag of entry.tags) {
      const keys = this.#keysByTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.#keysByTag.delete(tag);
    }
    return true;
  }
}

/**
 * The cache key: one token per identity (lower-cased client id), resource and tenant. The first two
 * parts are length-prefixed, so no choice of resource (a caller's string) can make two keys collide.
 */
export function tokenCacheKey(parts: { identityKey: string; resource: string; tenantId: string }): string {
  const identity = parts.identityKey.toLowerCase();
  return `${identity.length}:${identity}${parts.resource.length}:${parts.resource}${parts.tenantId.toLowerCase()}`;
}

type IdentityKind = "msi" | "msi-res" | "sp";
const MAX_REMEMBERED_KEYS = 4096;

/**
 * tokenCacheKey for an identity (kind and id), tenant and resource, remembered so a warm request does not
 * build the same key string again. Bounded: the resource is the caller's choice, so past
 * MAX_REMEMBERED_KEYS keys it starts over rather than grow.
 */
export class TokenCacheKeys {
  readonly #known = new TupleMemo<string>(MAX_REMEMBERED_KEYS);

  /** How many keys are remembered now. */
  get size(): number {
    return this.#known.size;
  }

  of(kind: IdentityKind, id: string, tenantId: string, resource: string): string {
    return (
      this.#known.get(kind, id, tenantId, resource) ??
      this.#known.set(tokenCacheKey({ identityKey: `${kind}:${id}`, resource, tenantId }), kind, id, tenantId, resource)
    );
  }
}
