import { describe, expect, test } from "bun:test";
import { TokenCache, TokenCacheKeys, tokenCacheKey } from "../../src/roles/nmi/token-cache.ts";

interface T {
  expiresOnMs: number;
  n: number;
}

function setup(overrides: Partial<ConstructorParameters<typeof TokenCache<T>>[0]> = {}) {
  let now = 1_000_000;
  let fetches = 0;
  const lifetime = 3_600_000;
  const cache = new TokenCache<T>({
    enabled: true,
    maxAgeMs: 3_600_000,
    refreshBeforeMs: 300_000,
    now: () => now,
    ...overrides,
  });
  const fetch = async (): Promise<T> => {
    fetches++;
    return { expiresOnMs: now + lifetime, n: fetches };
  };
  return {
    cache,
    fetch,
    advance: (ms: number) => {
      now += ms;
    },
    fetches: () => fetches,
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("TokenCache", () => {
  test("a second request for the same key is served from the cache", async () => {
    const { cache, fetch, fetches } = setup();
    expect((await cache.get("k", [], fetch)).source).toBe("upstream");
    const second = await cache.get("k", [], fetch);
    expect(second.source).toBe("cache");
    expect(second.value.n).toBe(1);
    expect(fetches()).toBe(1);
  });

  test("concurrent requests for one key share one upstream call", async () => {
    const { cache, fetches } = setup();
    let resolveFetch!: (t: T) => void;
    const slow = () =>
      new Promise<T>((resolve) => {
        resolveFetch = resolve;
      });
    const calls = [cache.get("k", [], slow), cache.get("k", [], slow), cache.get("k", [], slow)];
    resolveFetch({ expiresOnMs: 9e15, n: 7 });
    const results = await Promise.all(calls);
    expect(results.map((r) => r.source)).toEqual(["upstream", "shared", "shared"]);
    expect(results.every((r) => r.value.n === 7)).toBe(true);
    expect(fetches()).toBe(0);
  });

  test("a failed fetch is shared by its joiners and not cached", async () => {
    const { cache, fetch } = setup();
    const failing = async (): Promise<T> => {
      await settle();
      throw new Error("boom");
    };
    const a = cache.get("k", [], failing);
    const b = cache.get("k", [], failing);
    const [ra, rb] = await Promise.allSettled([a, b]);
    expect(ra.status === "rejected" && String(ra.reason)).toContain("boom");
    expect(rb.status === "rejected" && String(rb.reason)).toContain("boom");
    expect((await cache.get("k", [], fetch)).source).toBe("upstream");
  });

  test("a token inside the refresh window is served and refreshed in the background", async () => {
    const { cache, fetch, advance, fetches } = setup();
    await cache.get("k", [], fetch);
    advance(3_600_000 - 200_000); // 200 s left: inside the 300 s window
    const stale = await cache.get("k", [], fetch);
    expect(stale.source).toBe("cache");
    expect(stale.value.n).toBe(1);
    await settle();
    expect(fetches()).toBe(2);
    expect((await cache.get("k", [], fetch)).value.n).toBe(2);
  });

  test("a nearly expired token is never served", async () => {
    const { cache, fetch, advance } = setup();
    await cache.get("k", [], fetch);
    advance(3_600_000 - 10_000);
    const result = await cache.get("k", [], fetch);
    expect(result.source).toBe("upstream");
    expect(result.value.n).toBe(2);
  });

  test("an entry older than the max age is fetched again even if the token is still valid", async () => {
    const { cache, fetch, advance } = setup({ maxAgeMs: 60_000, refreshBeforeMs: 0 });
    await cache.get("k", [], fetch);
    advance(60_000);
    expect((await cache.get("k", [], fetch)).source).toBe("upstream");
  });

  test("invalidating a tag drops its entries at once and spares others", async () => {
    const { cache, fetch } = setup();
    await cache.get("k1", ["identity:a"], fetch);
    await cache.get("k2", ["identity:b"], fetch);
    expect(cache.invalidate("identity:a")).toBe(1);
    expect((await cache.get("k1", ["identity:a"], fetch)).source).toBe("upstream");
    expect((await cache.get("k2", ["identity:b"], fetch)).source).toBe("cache");
  });

  test("a fetch that started before an invalidation is not stored", async () => {
    const { cache, fetch } = setup();
    let resolveFetch!: (t: T) => void;
    const pending = cache.get(
      "k",
      ["assignment:x"],
      () =>
        new Promise<T>((resolve) => {
          resolveFetch = resolve;
        }),
    );
    cache.invalidate("assignment:x");
    resolveFetch({ expiresOnMs: 9e15, n: 99 });
    expect((await pending).value.n).toBe(99);
    const after = await cache.get("k", ["assignment:x"], fetch);
    expect(after.source).toBe("upstream");
    expect(after.value.n).toBe(1);
  });

  test("a request after an invalidation does not join the older in-flight fetch", async () => {
    const { cache, fetch } = setup();
    const never = () => new Promise<T>(() => {});
    void cache.get("k", ["binding:b"], never);
    cache.invalidate("binding:b");
    expect((await cache.get("k", ["binding:b"], fetch)).source).toBe("upstream");
  });

  test("disabled: every call fetches and nothing is stored", async () => {
    const { cache, fetch, fetches } = setup({ enabled: false });
    await cache.get("k", [], fetch);
    await cache.get("k", [], fetch);
    expect(fetches()).toBe(2);
    expect(cache.size).toBe(0);
  });

  test("the oldest entries are evicted beyond maxEntries", async () => {
    const { cache, fetch } = setup({ maxEntries: 2 });
    await cache.get("a", [], fetch);
    await cache.get("b", [], fetch);
    await cache.get("c", [], fetch);
    expect(cache.size).toBe(2);
    expect((await cache.get("a", [], fetch)).source).toBe("upstream");
  });

  test("fresh() gives a stored value only while it needs nothing else: not due for refresh, not expired, cache on", async () => {
    const { cache, fetch, advance, fetches } = setup();
    expect(cache.fresh("k")).toBeUndefined();
    const stored = (await cache.get("k", [], fetch)).value;
    expect(cache.fresh("k")).toBe(stored);
    advance(3_600_000 - 200_000); // inside the refresh window: get() must decide (and refresh)
    expect(cache.fresh("k")).toBeUndefined();
    expect((await cache.get("k", [], fetch)).source).toBe("cache");
    await Bun.sleep(0);
    expect(fetches()).toBe(2);
    expect(cache.fresh("k")?.n).toBe(2);
    const off = setup({ enabled: false });
    await off.cache.get("k", [], off.fetch);
    expect(off.cache.fresh("k")).toBeUndefined();
  });

  test("keys ignore client id and tenant case but not resource", () => {
    expect(tokenCacheKey({ identityKey: "ABC", resource: "r", tenantId: "T" })).toBe(
      tokenCacheKey({ identityKey: "abc", resource: "r", tenantId: "t" }),
    );
    expect(tokenCacheKey({ identityKey: "abc", resource: "r", tenantId: "" })).not.toBe(
      tokenCacheKey({ identityKey: "abc", resource: "R", tenantId: "" }),
    );
  });

  test("no resource a caller sends can make its key equal another identity's, resource's or tenant's", () => {
    const keys = [
      { identityKey: "msi:ab", resource: "c", tenantId: "" },
      { identityKey: "msi:a", resource: "bc", tenantId: "" },
      { identityKey: "msi:a", resource: "b", tenantId: "c" },
      { identityKey: "msi:a", resource: "1:bc", tenantId: "" },
      { identityKey: "msi:a", resource: "b1:c", tenantId: "" },
      { identityKey: "msi:a", resource: "", tenantId: "1:bc" },
      { identityKey: "sp:a", resource: "b", tenantId: "c" },
    ].map(tokenCacheKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test("tags given as a function are asked for only when a fetch starts, and then tag the entry", async () => {
    const { cache, fetch } = setup();
    let asked = 0;
    const tags = () => {
      asked++;
      return ["identity:ns/id"];
    };
    await cache.get("k", tags, fetch);
    await cache.get("k", tags, fetch);
    await cache.get("k", tags, fetch);
    expect(asked).toBe(1);
    expect(cache.invalidate("identity:ns/id")).toBe(1);
    expect((await cache.get("k", tags, fetch)).source).toBe("upstream");
  });
});

describe("TokenCacheKeys", () => {
  test("gives tokenCacheKey's key, the same string object for the same parts", () => {
    const keys = new TokenCacheKeys();
    const key = keys.of("msi", "CID", "", "https://vault.azure.net");
    expect(key).toBe(tokenCacheKey({ identityKey: "msi:CID", resource: "https://vault.azure.net", tenantId: "" }));
    expect(keys.of("msi", "CID", "", "https://vault.azure.net")).toBe(key);
    expect(keys.of("msi-res", "CID", "", "https://vault.azure.net")).not.toBe(key);
    expect(keys.of("sp", "cid", "T", "r")).toBe(tokenCacheKey({ identityKey: "sp:cid", resource: "r", tenantId: "t" }));
  });

  test("a caller sending endless distinct resources does not make it grow without bound (still right keys)", () => {
    const keys = new TokenCacheKeys();
    let largest = 0;
    for (let i = 0; i < 10_000; i++) {
      expect(keys.of("msi", "cid", "", `r${i}`)).toBe(
        tokenCacheKey({ identityKey: "msi:cid", resource: `r${i}`, tenantId: "" }),
      );
      largest = Math.max(largest, keys.size);
    }
    expect(largest).toBeLessThanOrEqual(4096);
    expect(keys.size).toBeLessThan(4096);
  });
});
