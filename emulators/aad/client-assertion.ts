// Verifies a client_assertion (RFC 7523 JWT) the way AAD does for certificate credentials: the
// header's x5t / x5t#S256 names a certificate registered on the app, the signature verifies with
// that certificate's key, iss = sub = client_id, the audience is the token endpoint, and it is
// within its validity window.
import { createHash, X509Certificate } from "node:crypto";
import { decodeProtectedHeader, importX509, jwtVerify } from "jose";
import { type AadError, assertionInvalid, assertionSignatureInvalid, certificateNotRegistered } from "./errors.ts";

export interface RegisteredCertificate {
  pem: string;
  sha1: string;
  sha256: string;
}

export function registerCertificate(pem: string): RegisteredCertificate {
  const der = new X509Certificate(pem).raw;
  return {
    pem,
    sha1: createHash("sha1").update(der).digest("base64url"),
    sha256: createHash("sha256").update(der).digest("base64url"),
  };
}

export async function verifyClientAssertion(
  assertion: string,
  clientId: string,
  certificates: RegisteredCertificate[],
  tokenEndpoint: string,
): Promise<AadError | undefined> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(assertion);
  } catch {
    return assertionInvalid("The client assertion is not a JWT.");
  }
  const x5t256 = typeof header["x5t#S256"] === "string" ? header["x5t#S256"] : undefined;
  const x5t = typeof header.x5t === "string" ? header.x5t : undefined;
  const cert = certificates.find(
    (c) => (x5t256 !== undefined && c.sha256 === x5t256) || (x5t !== undefined && c.sha1 === x5t),
  );
  if (!cert) {
    const thumbprint = x5t ? Buffer.from(x5t, "base64url").toString("hex").toUpperCase() : (x5t256 ?? "");
    return certificateNotRegistered(thumbprint, clientId);
  }
  const alg = header.alg === "PS256" ? "PS256" : "RS256";
  try {
    const key = await importX509(cert.pem, alg);
    await jwtVerify(assertion, key, {
      algorithms: [alg],
      issuer: clientId,
      subject: clientId,
      audience: [tokenEndpoint, tokenEndpoint.replace(/\/oauth2\/v2\.0\/token$/, "/oauth2/token")],
      clockTolerance: 300,
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") return assertionSignatureInvalid;
    return assertionInvalid((err as Error).message);
  }
  return undefined;
}
