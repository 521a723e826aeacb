// /healthz on --http-probe-port, on all interfaces: 200 "Active" once every readiness condition holds
// (rules in place, caches synced, server listening), 503 "Not Active" otherwise. The original always
// answered 200 and put the state only in the body (§9 item 23); the bodies are unchanged. Only /healthz
// is served: no pprof on this port.
export class Readiness {
  readonly #conditions = new Map<string, boolean>();

  constructor(names: readonly string[]) {
    for (const name of names) this.#conditions.set(name, false);
  }

  set(name: string, ready: boolean): void {
    this.#conditions.set(name, ready);
  }

  get active(): boolean {
    for (const ready of this.#conditions.values()) if (!ready) return false;
    return true;
  }

  /** Conditions not yet met (for logs). */
  pending(): string[] {
    return [...this.#conditions].filter(([, ready]) => !ready).map(([name]) => name);
  }
}

export function probeResponse(request: Request, active: boolean): Response {
  const url = new URL(request.url);
  if (url.pathname !== "/healthz") return new Response("404 page not found\n", { status: 404 });
  return new Response(active ? "Active" : "Not Active", {
    status: active ? 200 : 503,
    headers: { "Content-Type": "text/plain; charset=utf-8" },
  });
}

export interface ProbeServer {
  port: number;
  stop(): Promise<void>;
}

export function startProbeServer(options: { port: number; hostname?: string; isActive: () => boolean }): ProbeServer {
  const server = Bun.serve({
    // Never Bun's development error page (stack traces) to a caller, whatever NODE_ENV says.
    development: false,
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port,
    fetch: (request) => probeResponse(request, options.isActive()),
  });
  return { port: server.port ?? options.port, stop: () => server.stop(true) };
}
