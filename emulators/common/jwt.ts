// Signs the access tokens the IMDS and AAD emulators hand out. Tokens are real RS256 JWTs whose
// claims (oid, appid, tid, aud, xms_mirid) say exactly which identity got a token for which
// resource, so tests can decode them and check that the right identity was used.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { decodeJwt, exportJWK, type JWTPayload, jwtVerify, SignJWT } from "jose";

export interface TokenClaims {
  oid: string;
  appid: string;
  tid: string;
  aud: string;
  xms_mirid?: string;
  sub?: string;
}

export interface TokenIssuer {
  issue(claims: TokenClaims, lifetimeSeconds?: number): Promise<string>;
  /** The JSON Web Key Set (`{ keys: [...] }`) that verifies the issued tokens. */
  jwks(): object;
  publicKeyPem: string;
  /** PKCS#8 PEM of the signing key, so another process (e.g. an IMDS in a netns) can sign with the same key. */
  privateKeyPem: string;
  /** Key id placed in every token's `kid` header. */
  keyId: string;
  /** Verifies signature and expiry; returns the claims. Throws on a bad token. */
  verify(jwt: string): Promise<JWTPayload>;
}

/** Azure AD v1 access tokens carry this issuer form; the tenant is the only variable part. */
export function issuerFor(tenantId: string): string {
  return `https://sts.windows.net/${tenantId}/`;
}

export async function createTokenIssuer(opts: { privateKeyPem?: string } = {}): Promise<TokenIssuer> {
  const privateKey: KeyObject = opts.privateKeyPem
    ? createPrivateKey(opts.privateKeyPem)
    : generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const publicKey = createPublicKey(privateKey);
  const jwk = await exportJWK(publicKey);
  // Same idea as AAD's kid: a stable fingerprint of the public key.
  const keyId = createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("base64url");
  const publicJwk = { ...jwk, kid: keyId, use: "sig", alg: "RS256" };

  return {
    keyId,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    jwks: () => ({ keys: [publicJwk] }),
    async issue(claims, lifetimeSeconds = 86_399) {
      const now = Math.floor(Date.now() / 1000);
      const { aud, sub, ...rest } = claims;
      return new SignJWT({ ...rest, idtyp: "app", ver: "1.0" })
        .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: keyId })
        .setIssuer(issuerFor(claims.tid))
        .setAudience(aud)
        .setSubject(sub ?? claims.oid)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + lifetimeSeconds)
        .sign(privateKey);
    },
    async verify(jwt) {
      const { payload } = await jwtVerify(jwt, publicKey, { algorithms: ["RS256"] });
      return payload;
    },
  };
}

/** Reads a JWT's claims without verifying it (tests, demo output). */
export function decodeClaims(jwt: string): Record<string, unknown> {
  return decodeJwt(jwt) as Record<string, unknown>;
}
