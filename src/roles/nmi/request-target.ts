// What a request's URL asks for: the route (request-classifier.ts), the query string and the token
// parameters in it. Pods ask with the same few URLs again and again (an SDK builds one per resource), so
// each distinct URL is parsed once and the result kept, in a bounded map, for the next request with it:
// parsing (WHATWG URL, query parameters, their length limits, the route) was a tenth of a cached token
// request's time.
import * as v from "valibot";
import type { IdentityRequest } from "./identity-selection.ts";
import { type ClassifyOptions, classifyPath, type Route } from "./request-classifier.ts";

const QuerySchema = v.object({
  resource: v.pipe(v.string(), v.maxLength(2048)),
  client_id: v.pipe(v.string(), v.maxLength(256)),
  msi_res_id: v.pipe(v.string(), v.maxLength(2048)),
  mi_res_id: v.pipe(v.string(), v.maxLength(2048)),
  object_id: v.pipe(v.string(), v.maxLength(256)),
});
export type TokenQuery = v.InferOutput<typeof QuerySchema>;

export interface RequestTarget {
  /** Still percent-encoded, as the URL carries it. */
  readonly pathname: string;
  /** "?…", or "" without a query. */
  readonly search: string;
  readonly route: Route;
  /** The query's `resource` as sent, for the log line (also when the query is refused). */
  readonly rawResource: string;
  /** First value of each token parameter, as Go's Query().Get; null when a value is too long. */
  readonly query: Readonly<TokenQuery> | null;
  /** The identity the query names (client id, else resource id); null with the query. */
  readonly identityRequest: Readonly<IdentityRequest> | null;
}

/** Pure: parses an absolute request URL (Request.url). */
export function parseRequestTarget(requestUrl: string, options: ClassifyOptions): RequestTarget {
  const url = new URL(requestUrl);
  const params = url.searchParams;
  const parsed = v.safeParse(QuerySchema, {
    resource: params.get("resource") ?? "",
    client_id: params.get("client_id") ?? "",
    msi_res_id: params.get("msi_res_id") ?? "",
    mi_res_id: params.get("mi_res_id") ?? "",
    object_id: params.get("object_id") ?? "",
  });
  const query = parsed.success ? Object.freeze(parsed.output) : null;
  return Object.freeze({
    pathname: url.pathname,
    search: url.search,
    route: Object.freeze(classifyPath(url.pathname, options)),
    rawResource: params.get("resource") ?? "",
    query,
    identityRequest: query
      ? Object.freeze({ clientId: query.client_id, resourceId: query.msi_res_id || query.mi_res_id })
      : null,
  });
}

/** URLs longer than this are parsed every time, never kept (token URLs are ~150 characters). */
const MAX_KEPT_URL_LENGTH = 2048;
const DEFAULT_MAX_ENTRIES = 1024;

/** parseRequestTarget, remembered per URL; at most `maxEntries` URLs are kept (then it starts over). */
export class RequestTargets {
  readonly #options: ClassifyOptions;
  readonly #maxEntries: number;
  readonly #known = new Map<string, RequestTarget>();

  constructor(options: ClassifyOptions, maxEntries = DEFAULT_MAX_ENTRIES) {
    this.#options = { ...options };
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#known.size;
  }

  of(requestUrl: string): RequestTarget {
    const known = this.#known.get(requestUrl);
    if (known) return known;
    const target = parseRequestTarget(requestUrl, this.#options);
    if (requestUrl.length > MAX_KEPT_URL_LENGTH) return target;
    // A caller cycling through endless distinct URLs only ever costs this map's bound.
    if (this.#known.size >= this.#maxEntries) this.#known.clear();
    this.#known.set(requestUrl, target);
    return target;
  }
}
