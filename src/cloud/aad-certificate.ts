// Service-principal certificates (AzureIdentity type 2): PKCS#12 (the Secret's `certificate` +
// `password`, as aad-pod-identity reads them) or PEM (certificate + private key). The private key is
// matched to its certificate, so a PFX carrying a chain works. node-forge decodes the PKCS#12
// containers; node:crypto handles the keys, so EC keys are recognised (forge cannot parse them) and
// then refused by aad-client with a clear error: AAD only accepts RS256/PS256 client assertions.
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import forge from "node-forge";

export interface ClientCertificate {
  /** The leaf certificate, PEM. */
  certificatePem: string;
  /** The private key, PKCS#8 PEM (unencrypted, in memory only). */
  privateKeyPem: string;
  /** node:crypto's key type: "rsa", "rsa-pss", "ec", "ed25519", ... */
  keyType: string;
  /** Hex SHA-1 and SHA-256 of the certificate's DER (x5t / x5t#S256). */
  thumbprintSha1: string;
  thumbprintSha256: string;
  /** Base64 DER of the certificate, for the x5c header (subject name / issuer authentication). */
  x5c: string;
}

export class CertificateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CertificateError";
  }
}

function fromKeyAndCertificates(key: KeyObject, certificates: X509Certificate[]): ClientCertificate {
  const leaf = certificates.find((certificate) => certificate.checkPrivateKey(key));
  if (!leaf) throw new CertificateError("no certificate matches the private key");
  const der = leaf.raw;
  return {
    certificatePem: leaf.toString(),
    privateKeyPem: key.export({ type: "pkcs8", format: "pem" }).toString(),
    keyType: key.asymmetricKeyType ?? "unknown",
    thumbprintSha1: createHash("sha1").update(der).digest("hex"),
    thumbprintSha256: createHash("sha256").update(der).digest("hex"),
    x5c: der.toString("base64"),
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PEM_PRIVATE_KEY =
  /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

/**
 * From PEM: `pem` holds the certificate(s) and, unless `privateKeyPem` is given, the private key too
 * (PKCS#1, SEC1 or PKCS#8; encrypted PKCS#8 with `passphrase`).
 */
export function certificateFromPem(pem: string, privateKeyPem?: string, passphrase?: string): ClientCertificate {
  const keyText = privateKeyPem ?? PEM_PRIVATE_KEY.exec(pem)?.[0];
  if (!keyText) throw new CertificateError("no private key in the PEM data");
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? keyText : { key: keyText, passphrase });
  } catch (error) {
    throw new CertificateError(`unreadable private key: ${(error as Error).message}`, { cause: error });
  }
  const certificates = [...pem.matchAll(PEM_CERTIFICATE)].map((match) => {
    try {
      return new X509Certificate(match[0]);
    } catch (error) {
      throw new CertificateError(`unreadable certificate: ${(error as Error).message}`, { cause: error });
    }
  });
  if (certificates.length === 0) throw new CertificateError("no certificate in the PEM data");
  return fromKeyAndCertificates(key, certificates);
}

/** From PKCS#12 bytes and password (empty string for none). */
export function certificateFromPfx(pfx: Uint8Array, password: string): ClientCertificate {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(pfx).toString("binary")));
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, password);
  } catch (error) {
    throw new CertificateError(`unreadable PKCS#12 (wrong password?): ${(error as Error).message}`, { cause: error });
  }
  const derOf = (bag: forge.pkcs12.Bag, kind: "key" | "cert"): Buffer | undefined => {
    // forge parses RSA only; for other key types it leaves the ASN.1, which node:crypto understands.
    const asn1 =
      kind === "key"
        ? bag.key
          ? forge.pki.privateKeyToAsn1(bag.key)
          : bag.asn1
        : bag.cert
          ? forge.pki.certificateToAsn1(bag.cert)
          : bag.asn1;
    if (!asn1) return undefined;
    const wrapped = kind === "key" && bag.key ? forge.pki.wrapRsaPrivateKey(asn1) : asn1;
    return Buffer.from(forge.asn1.toDer(wrapped).getBytes(), "binary");
  };
  const bagsOf = (type: string) => p12.getBags({ bagType: type })[type] ?? [];
  const keyBags = [...bagsOf(forge.pki.oids.pkcs8ShroudedKeyBag ?? ""), ...bagsOf(forge.pki.oids.keyBag ?? "")];
  const keyDer = keyBags.map((bag) => derOf(bag, "key")).find((der) => der !== undefined);
  if (!keyDer) throw new CertificateError("no private key in the PKCS#12 data");
  const certificates = bagsOf(forge.pki.oids.certBag ?? "")
    .map((bag) => derOf(bag, "cert"))
    .filter((der): der is Buffer => der !== undefined)
    .map((der) => new X509Certificate(der));
  if (certificates.length === 0) throw new CertificateError("no certificate in the PKCS#12 data");
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyDer, format: "der", type: "pkcs8" });
  } catch (error) {
    throw new CertificateError(`unreadable private key in PKCS#12: ${(error as Error).message}`, { cause: error });
  }
  return fromKeyAndCertificates(key, certificates);
}
