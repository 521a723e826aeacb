// Whether the API server answers, judged from the outcomes of real requests (lease attempts every
// retry period are the heartbeat): any HTTP answer below 500 means reachable; a network error or a
// 5xx means not. Requests we cancelled ourselves say nothing. Before the first outcome: unknown.
import type { KubeClient } from "../../../kube/client.ts";
import { KubeApiError } from "../../../kube/errors.ts";

export type Reachability = "unknown" | "reachable" | "unreachable";

/** Whether a request failure says the API server cannot be reached. Pure. */
export function isConnectivityFailure(error: unknown): boolean {
  if (!(error instanceof KubeApiError)) return true;
  return error.code === 0 || error.code >= 500;
}

export class ApiReachability {
  private lastSuccess = -1;
  private lastFailure = -1;
  private sequence = 0;

  succeeded(): void {
    this.lastSuccess = ++this.sequence;
  }

  failed(): void {
    this.lastFailure = ++this.sequence;
  }

  state(): Reachability {
    if (this.lastSuccess < 0 && this.lastFailure < 0) return "unknown";
    return this.lastSuccess > this.lastFailure ? "reachable" : "unreachable";
  }

  /** The same client, reporting every request's outcome here. */
  observe(client: KubeClient): KubeClient {
    const note = async <T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> => {
      try {
        const value = await run();
        this.succeeded();
        return value;
      } catch (error) {
        if (!signal?.aborted) {
          if (isConnectivityFailure(error)) this.failed();
          else this.succeeded();
        }
        throw error;
      }
    };
    return {
      ...client,
      request: (method, path, req) => note(req?.signal, () => client.request(method, path, req)),
      requestJson: (method, path, req) => note(req?.signal, () => client.requestJson(method, path, req)),
    };
  }
}
