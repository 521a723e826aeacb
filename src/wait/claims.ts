// Which identity a token was issued to, read from its claims. The payload is decoded WITHOUT checking
// the signature (we hold no keys, and the question is which identity NMI handed out, not whether AAD
// signed it): never use this to trust a token.
import { decodeJwt } from "jose";
import * as v from "valibot";

export interface TokenIdentity {
  /** `appid` (v1 tokens) or `azp` (v2 tokens). */
  clientId?: string;
  /** `oid`. */
  objectId?: string;
}

export interface ExpectedIdentity {
  clientId?: string;
  objectId?: string;
}

const claimsSchema = v.object({
  appid: v.optional(v.string()),
  azp: v.optional(v.string()),
  oid: v.optional(v.string()),
});

/** Undefined when the token is not a JWT whose claims can be read. */
export function tokenIdentity(accessToken: string): TokenIdentity | undefined {
  let payload: unknown;
  try {
    payload = decodeJwt(accessToken);
  } catch {
    return undefined;
  }
  const claims = v.safeParse(claimsSchema, payload);
  if (!claims.success) return undefined;
  const clientId = claims.output.appid ?? claims.output.azp;
  return {
    ...(clientId !== undefined && { clientId }),
    ...(claims.output.oid !== undefined && { objectId: claims.output.oid }),
  };
}

function sameId(actual: string | undefined, expected: string): boolean {
  return actual !== undefined && actual.toLowerCase() === expected.toLowerCase();
}

/** Each way the token's identity differs from the expected one; empty when it matches. */
export function identityMismatches(actual: TokenIdentity | undefined, expected: ExpectedIdentity): string[] {
  const expectsSomething = expected.clientId !== undefined || expected.objectId !== undefined;
  if (actual === undefined) return expectsSomething ? ["its claims cannot be read (not a JWT)"] : [];
  const problems: string[] = [];
  if (expected.clientId !== undefined && !sameId(actual.clientId, expected.clientId)) {
    problems.push(`client id ${actual.clientId ?? "(none)"}, expected ${expected.clientId}`);
  }
  if (expected.objectId !== undefined && !sameId(actual.objectId, expected.objectId)) {
    problems.push(`object id ${actual.objectId ?? "(none)"}, expected ${expected.objectId}`);
  }
  return problems;
}
