// Token answers in IMDS's JSON shape: every value a string, client_id included (the original omitted it),
// expires_in counted from the moment of answering, so a cached token never claims its original lifetime.
import type { Token } from "./ports.ts";

export interface ImdsTokenBody {
  access_token: string;
  client_id: string;
  expires_in: string;
  expires_on: string;
  ext_expires_in: string;
  not_before: string;
  resource: string;
  token_type: string;
  refresh_token?: string;
}

export function imdsTokenBody(token: Token, nowMs: number): ImdsTokenBody {
  const expiresIn = String(Math.max(0, Math.floor((token.expiresOnMs - nowMs) / 1000)));
  const body: ImdsTokenBody = {
    access_token: token.accessToken,
    client_id: token.clientId,
    expires_in: expiresIn,
    expires_on: String(Math.floor(token.expiresOnMs / 1000)),
    ext_expires_in: expiresIn,
    not_before: String(Math.floor(token.notBeforeMs / 1000)),
    resource: token.resource,
    token_type: token.tokenType,
  };
  if (token.refreshToken) body.refresh_token = token.refreshToken;
  return body;
}

/** One object for a single token; the original's JSON array (primary first) for a multi-tenant SP. */
export function podTokenBody(tokens: readonly Token[], nowMs: number): ImdsTokenBody | ImdsTokenBody[] {
  if (tokens.length === 1) return imdsTokenBody(tokens[0]!, nowMs);
  return tokens.map((token) => imdsTokenBody(token, nowMs));
}

/** /host/token's shape: the first token and the identity's client id. */
export function hostTokenBody(tokens: readonly Token[], clientId: string, nowMs: number) {
  return { token: imdsTokenBody(tokens[0]!, nowMs), clientid: clientId };
}

interface SerialisedBody {
  /** The second-granular expires_in the text was built for. */
  expiresIn: number;
  text: string;
  /** The same bytes as a Blob, made on first use: a response shares a Blob's storage instead of copying. */
  blob?: Blob;
}

// A cached token answers thousands of requests; its JSON only changes when expires_in ticks down (once a
// second), so the text is kept per cache entry (the entry's token array) and rebuilt only then.
const serialised = new WeakMap<readonly Token[], SerialisedBody>();

function serialisedBody(only: Token, tokens: readonly Token[], nowMs: number): SerialisedBody {
  const expiresIn = Math.max(0, Math.floor((only.expiresOnMs - nowMs) / 1000));
  const known = serialised.get(tokens);
  if (known && known.expiresIn === expiresIn) return known;
  const body = { expiresIn, text: JSON.stringify(imdsTokenBody(only, nowMs)) };
  serialised.set(tokens, body);
  return body;
}

/**
 * podTokenBody as JSON text, reusing the text built for the same token within the same second. Only
 * single-token answers are kept; a multi-tenant answer (rare) is built every time.
 */
export function podTokenJson(tokens: readonly Token[], nowMs: number): string {
  const only = tokens.length === 1 ? tokens[0] : undefined;
  if (!only) return JSON.stringify(podTokenBody(tokens, nowMs));
  return serialisedBody(only, tokens, nowMs).text;
}

/**
 * podTokenJson as a Blob, the body NMI answers with: a Response made from a Blob shares its bytes, one
 * made from a string copies them (~1.3 KB of garbage per warm request, a GC every few thousand).
 */
export function podTokenBlob(tokens: readonly Token[], nowMs: number): Blob {
  const only = tokens.length === 1 ? tokens[0] : undefined;
  if (!only) return new Blob([JSON.stringify(podTokenBody(tokens, nowMs))]);
  const body = serialisedBody(only, tokens, nowMs);
  body.blob ??= new Blob([body.text]);
  return body.blob;
}
