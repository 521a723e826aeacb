// The last warm answer per caller, reused while nothing it was decided from can have changed.
//
// A warm token request (pod known, identity Assigned, token cached) decides the same thing every time
// until an informer reports a change or the cached token is due for refresh: the same pod, the same
// identity, the same token. Re-deciding it (pod by IP, exceptions, assignments, selection, cache key
// and lookup) was most of NMI's own work per request. A remembered answer is used only for the same
// caller address and the same request target (the same URL), while the change version it was decided
// under is still the current one and its token is still fresh; anything else takes the full path.
import type { FoundIdentity } from "./identity-resolver.ts";
import type { RequestTarget } from "./request-target.ts";
import type { TokenResult } from "./token-service.ts";

export interface WarmAnswer {
  /** The request target it answered (RequestTargets hands out one object per distinct URL). */
  target: RequestTarget;
  /** The change version when the request that produced it started. */
  version: number;
  pod: string;
  namespace: string;
  resolution: FoundIdentity;
  /** A cache hit, with the time its token stops being fresh. */
  result: TokenResult & { freshUntilMs: number };
}

/** How many callers are remembered at most (a node has a few hundred pods); past it, all are forgotten. */
const MAX_CALLERS = 4096;

export class WarmAnswers {
  readonly #byCaller = new Map<string, WarmAnswer>();
  readonly #version: () => number;

  /** `version` changes whenever anything an answer depends on may have changed (any informer event). */
  constructor(version: () => number) {
    this.#version = version;
  }

  get version(): number {
    return this.#version();
  }

  /** The remembered answer for `caller` asking `target`, if it still stands at `nowMs`. */
  find(caller: string, target: RequestTarget, nowMs: number): WarmAnswer | undefined {
    const answer = this.#byCaller.get(caller);
    if (!answer || answer.target !== target) return undefined;
    if (answer.version !== this.#version() || nowMs >= answer.result.freshUntilMs) return undefined;
    return answer;
  }

  remember(caller: string, answer: WarmAnswer): void {
    if (this.#byCaller.size >= MAX_CALLERS && !this.#byCaller.has(caller)) this.#byCaller.clear();
    this.#byCaller.set(caller, answer);
  }
}
