// The transparent proxy for everything that is not a token request (§5.5): same method, path, query,
// headers and body to http://<metadata-ip>:<metadata-port>, status, headers and body copied back.
// Calls go through the node-wide IMDS budget like token calls do, queued per calling pod (its IP), and
// IMDS's 429s are reported like those of token calls.
import type { ImdsProxy } from "./ports.ts";
import type { UpstreamBudget } from "./upstream-budget.ts";

// Per-hop headers are not forwarded; Host is set from the upstream URL, as Go's client did.
const HOP_BY_HOP = new Set([
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "content-length",
]);

export interface ImdsProxyOptions {
  metadataIp: string;
  metadataPort: number;
  budget?: UpstreamBudget;
  /** IMDS answered 429 (counted in upstream_throttled_total). */
  onThrottled?: () => void;
  fetch?: typeof fetch;
}

export function createImdsProxy(options: ImdsProxyOptions): ImdsProxy {
  const doFetch = options.fetch ?? fetch;
  const base = `http://${options.metadataIp}:${options.metadataPort}`;
  return {
    async forward(request, callerKey) {
      const url = new URL(request.url);
      const headers = new Headers();
      for (const [name, value] of request.headers) if (!HOP_BY_HOP.has(name.toLowerCase())) headers.append(name, value);
      const hasBody = request.method !== "GET" && request.method !== "HEAD";
      const body = hasBody ? await request.arrayBuffer() : undefined;
      const send = async () => {
        const upstream = await doFetch(`${base}${url.pathname}${url.search}`, {
          method: request.method,
          headers,
          body,
          redirect: "manual",
        });
        // Buffer the body so the budget slot is held only for the upstream exchange itself.
        const payload = await upstream.arrayBuffer();
        if (upstream.status === 429) options.onThrottled?.();
        const responseHeaders = new Headers(upstream.headers);
        responseHeaders.delete("content-encoding");
        responseHeaders.delete("content-length");
        responseHeaders.delete("transfer-encoding");
        return new Response(payload, { status: upstream.status, headers: responseHeaders });
      };
      if (!options.budget) return send();
      // Without a caller key every call shares one queue.
      return options.budget.run(callerKey ?? "proxy", send);
    },
  };
}
