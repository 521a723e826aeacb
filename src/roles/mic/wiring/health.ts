// /healthz on --http-probe-port. The original always answered 200 with "Active" (leader, syncing) or
// "Not Active" (§4.11); here a process that cannot reach the API server answers 503, so a liveness
// probe restarts a MIC cut off from the cluster (§9.23). Nothing else is served (no pprof, §9.22b).
import type { Reachability } from "./api-reachability.ts";

export interface HealthState {
  /** Leader and the controller started after its caches synced. */
  active: boolean;
  reachability: Reachability;
}

/** The probe's answer. Pure. */
export function healthAnswer(state: HealthState): { status: number; body: string } {
  if (state.reachability === "unreachable") return { status: 503, body: "API server unreachable" };
  return { status: 200, body: state.active ? "Active" : "Not Active" };
}

export interface HealthServer {
  readonly port: number;
  stop(): Promise<void>;
}

export function startHealthServer(port: number, state: () => HealthState, host = "0.0.0.0"): HealthServer {
  const server = Bun.serve({
    // Never Bun's development error page (stack traces) to a caller, whatever NODE_ENV says.
    development: false,
    port,
    hostname: host,
    fetch(request) {
      if (new URL(request.url).pathname !== "/healthz") return new Response("404 page not found\n", { status: 404 });
      const answer = healthAnswer(state());
      return new Response(answer.body, { status: answer.status, headers: { "content-type": "text/plain" } });
    },
  });
  return {
    port: server.port ?? port,
    async stop() {
      await server.stop(true);
    },
  };
}
