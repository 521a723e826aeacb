// HTTPS to AAD that can trust an extra CA bundle given by option (private clouds, the AAD emulator),
// instead of NODE_EXTRA_CA_CERTS, which Bun only reads at process start. Bun's fetch takes `tls.ca`;
// the system roots are kept, so public AAD still verifies. Two adapters over that fetch:
// msal-node's INetworkModule (aad-client.ts) and core-rest-pipeline's HttpClient (@azure/identity).
import { rootCertificates } from "node:tls";
// Type-only: @azure/core-rest-pipeline is @azure/identity's dependency; nothing of it is bundled from here.
import type {
  HttpClient,
  HttpHeaders,
  PipelineRequest,
  PipelineResponse,
  RawHttpHeaders,
} from "@azure/core-rest-pipeline";
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from "@azure/msal-node";

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** fetch that also trusts `caPem` (one or more PEM certificates); plain fetch without it. */
export function fetchTrustingCa(caPem?: string): FetchLike {
  if (!caPem) return (url, init) => fetch(url, init);
  const ca = [...rootCertificates, caPem];
  return (url, init) => fetch(url, { ...init, tls: { ca } });
}

function headersRecord(headers: Headers): Record<string, string> {
  const record: Record<string, string> = {};
  headers.forEach((value, name) => {
    record[name] = value;
  });
  return record;
}

/** msal-node network module over `fetchLike`. Non-JSON bodies become an error object msal can report. */
export function msalNetworkModule(fetchLike: FetchLike): INetworkModule {
  const send = async <T>(
    method: "GET" | "POST",
    url: string,
    options: NetworkRequestOptions | undefined,
    timeoutMs?: number,
  ): Promise<NetworkResponse<T>> => {
    const response = await fetchLike(url, {
      method,
      headers: options?.headers,
      body: method === "POST" ? options?.body : undefined,
      signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: `http_${response.status}`, error_description: text.slice(0, 512) };
    }
    return { headers: headersRecord(response.headers), body: body as T, status: response.status };
  };
  return {
    sendGetRequestAsync: (url, options, timeout) => send("GET", url, options, timeout),
    sendPostRequestAsync: (url, options) => send("POST", url, options),
  };
}

class PlainHttpHeaders implements HttpHeaders {
  readonly #entries = new Map<string, { name: string; value: string }>();
  constructor(initial?: Iterable<[string, string]>) {
    for (const [name, value] of initial ?? []) this.set(name, value);
  }
  get(name: string): string | undefined {
    return this.#entries.get(name.toLowerCase())?.value;
  }
  has(name: string): boolean {
    return this.#entries.has(name.toLowerCase());
  }
  set(name: string, value: string | number | boolean): void {
    this.#entries.set(name.toLowerCase(), { name, value: String(value) });
  }
  delete(name: string): void {
    this.#entries.delete(name.toLowerCase());
  }
  toJSON(options?: { preserveCase?: boolean }): RawHttpHeaders {
    const json: RawHttpHeaders = {};
    for (const [key, { name, value }] of this.#entries) json[options?.preserveCase ? name : key] = value;
    return json;
  }
  *[Symbol.iterator](): Iterator<[string, string]> {
    for (const [key, { value }] of this.#entries) yield [key, value];
  }
}

/** core-rest-pipeline HttpClient over `fetchLike`, enough for @azure/identity's token requests. */
export function coreHttpClient(fetchLike: FetchLike): HttpClient {
  return {
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      const body = request.body;
      if (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) {
        throw new Error("coreHttpClient only sends string or byte bodies");
      }
      const signals = [request.abortSignal, request.timeout > 0 ? AbortSignal.timeout(request.timeout) : undefined];
      const active = signals.filter((signal): signal is AbortSignal => signal !== undefined);
      const response = await fetchLike(request.url, {
        method: request.method,
        headers: request.headers.toJSON({ preserveCase: true }),
        body: (body ?? undefined) as BodyInit | undefined,
        signal: active.length > 0 ? AbortSignal.any(active) : undefined,
        redirect: "manual",
      });
      return {
        request,
        status: response.status,
        headers: new PlainHttpHeaders(response.headers.entries()),
        bodyAsText: await response.text(),
      };
    },
  };
}
