// A service-principal identity's credential from its Secret's data (base64 values, as the API gives
// them). Pure. The rule, deterministic whatever order the API lists keys in:
// - type 1 (client secret): the key `clientSecret` if present, else the Secret's only key; a Secret with
//   several keys and no `clientSecret` is refused rather than guessed from.
// - type 2 (certificate): `certificate` holds a PKCS#12 (PFX) with `password` (may be absent: empty), or
//   PEM: `certificate` with the key inside, or `certificate` + `privateKey` (PEM also accepted under
//   `tls.crt` + `tls.key`, a kubernetes.io/tls Secret).
import { type ClientCertificate, certificateFromPem, certificateFromPfx } from "../../../cloud/aad-certificate.ts";
import type { ServicePrincipalCredential } from "../../../cloud/aad-client.ts";
import { IdentityType } from "../../../kube/crds.ts";

export type SecretData = Readonly<Record<string, string>>;

export class SecretCredentialError extends Error {
  readonly code = "SECRET_CREDENTIAL";
}

const decode = (value: string): Buffer => Buffer.from(value, "base64");

function clientSecretOf(data: SecretData, secretName: string): string {
  if (data.clientSecret !== undefined) return decode(data.clientSecret).toString("utf8");
  const keys = Object.keys(data);
  if (keys.length === 1) return decode(data[keys[0]!]!).toString("utf8");
  throw new SecretCredentialError(
    keys.length === 0
      ? `secret ${secretName} has no data`
      : `secret ${secretName} has several keys and no clientSecret key: ${keys.sort().join(", ")}`,
  );
}

function looksLikePem(bytes: Buffer): boolean {
  return bytes.subarray(0, 64).toString("latin1").includes("-----BEGIN");
}

function certificateOf(data: SecretData, secretName: string): ClientCertificate {
  const certificate = data.certificate ?? data["tls.crt"];
  if (certificate === undefined) throw new SecretCredentialError(`secret ${secretName} has no certificate key`);
  const bytes = decode(certificate);
  const password = data.password === undefined ? undefined : decode(data.password).toString("utf8");
  if (!looksLikePem(bytes)) return certificateFromPfx(bytes, password ?? "");
  const key = data.privateKey ?? data["tls.key"];
  return certificateFromPem(
    bytes.toString("utf8"),
    key === undefined ? undefined : decode(key).toString("utf8"),
    password,
  );
}

export function credentialFromSecret(type: number, data: SecretData, secretName: string): ServicePrincipalCredential {
  if (type === IdentityType.ServicePrincipal) return { kind: "secret", secret: clientSecretOf(data, secretName) };
  if (type === IdentityType.ServicePrincipalCertificate) {
    return { kind: "certificate", certificate: certificateOf(data, secretName) };
  }
  throw new SecretCredentialError(`identity type ${type} has no secret credential`);
}
