// A pass-through in front of the IMDS emulator that counts what NMI sends upstream: calls per token key
// (client_id + resource), the most calls in flight at once, and the statuses (429s above all).
export interface ImdsMeter {
  url: string;
  host: string;
  port: number;
  /** Forget everything counted so far. */
  reset(): void;
  snapshot(): { calls: number; distinctKeys: number; maxInFlight: number; statuses: Record<string, number> };
  stop(): Promise<void>;
}

export function startImdsMeter(upstreamUrl: string): ImdsMeter {
  let calls = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let keys = new Set<string>();
  let statuses: Record<string, number> = {};
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const isToken = url.pathname.replace(/\/+$/, "") === "/metadata/identity/oauth2/token";
      if (isToken) {
        calls += 1;
        keys.add(`${url.searchParams.get("client_id") ?? ""}|${url.searchParams.get("resource") ?? ""}`);
      }
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const upstream = await fetch(`${upstreamUrl}${url.pathname}${url.search}`, { headers: request.headers });
        statuses[upstream.status] = (statuses[upstream.status] ?? 0) + 1;
        return new Response(await upstream.arrayBuffer(), { status: upstream.status, headers: upstream.headers });
      } finally {
        inFlight -= 1;
      }
    },
  });
  const port = server.port ?? 0;
  return {
    url: `http://127.0.0.1:${port}`,
    host: "127.0.0.1",
    port,
    reset() {
      calls = 0;
      maxInFlight = inFlight;
      keys = new Set();
      statuses = {};
    },
    snapshot: () => ({ calls, distinctKeys: keys.size, maxInFlight, statuses: { ...statuses } }),
    stop: () => server.stop(true),
  };
}
