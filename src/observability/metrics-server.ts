// Serves /metrics and nothing else: no profiler or debug endpoints, whatever flags say.
import type { MetricsRegistry } from "./metrics.ts";

export interface MetricsServer {
  readonly port: number;
  readonly hostname: string;
  stop(): Promise<void>;
}

export interface MetricsServerOptions {
  port: number;
  /** Bind address; default all interfaces, as the original's ":port". */
  host?: string;
  registry: MetricsRegistry;
}

export function startMetricsServer(options: MetricsServerOptions): MetricsServer {
  const server = Bun.serve({
    // Never Bun's development error page (stack traces) to a caller, whatever NODE_ENV says.
    development: false,
    port: options.port,
    hostname: options.host ?? "0.0.0.0",
    async fetch(request) {
      const path = new URL(request.url).pathname;
      if (path !== "/metrics") return new Response("404 page not found\n", { status: 404 });
      if (request.method !== "GET" && request.method !== "HEAD") {
        return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
      }
      let text: string;
      try {
        text = await options.registry.metrics();
      } catch {
        // A collector failed (e.g. a custom collect() threw): say so, without its text, and keep serving.
        return new Response("metrics collection failed\n", { status: 500 });
      }
      return new Response(text, { headers: { "content-type": options.registry.contentType } });
    },
  });
  return {
    port: server.port ?? options.port,
    hostname: server.hostname ?? options.host ?? "0.0.0.0",
    async stop() {
      await server.stop(true);
    },
  };
}
