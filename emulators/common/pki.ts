// A throw-away certificate authority for the emulators and tests: https servers (Kubernetes API, AAD,
// ARM) and client certificates (kubeconfig client-cert auth, AAD certificate credentials).
// Keys come from node:crypto (fast, native); node-forge only builds and signs the X.509 structures.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import forge from "node-forge";

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

export interface CertificateAuthority extends KeyAndCert {
  /** Issues a server certificate for the given DNS names and IP addresses. */
  issueServer(names: { dns?: string[]; ips?: string[] }): KeyAndCert;
  /** Issues a client certificate; `organizations` become the subject O (Kubernetes groups). */
  issueClient(commonName: string, organizations?: string[]): KeyAndCert;
}

function rsaKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

function newCertificate(publicPem: string, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = `01${randomBytes(8).toString("hex")}`;
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
  return cert;
}

export function createCertificateAuthority(commonName = "pod-identity test CA"): CertificateAuthority {
  const caKeys = rsaKeyPair();
  const caKey = forge.pki.privateKeyFromPem(caKeys.privatePem);
  const caCert = newCertificate(caKeys.publicPem, 3650);
  const caSubject = [{ name: "commonName", value: commonName }];
  caCert.setSubject(caSubject);
  caCert.setIssuer(caSubject);
  caCert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  caCert.sign(caKey, forge.md.sha256.create());

  function issue(subject: forge.pki.CertificateField[], extensions: object[]): KeyAndCert {
    const keys = rsaKeyPair();
    const cert = newCertificate(keys.publicPem, 825);
    cert.setSubject(subject);
    cert.setIssuer(caCert.subject.attributes);
    cert.setExtensions([
      { name: "basicConstraints", cA: false },
      { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
      ...extensions,
    ]);
    cert.sign(caKey, forge.md.sha256.create());
    return { keyPem: keys.privatePem, certPem: forge.pki.certificateToPem(cert) };
  }

  return {
    keyPem: caKeys.privatePem,
    certPem: forge.pki.certificateToPem(caCert),
    issueServer({ dns = ["localhost"], ips = ["127.0.0.1"] }) {
      const altNames = [...dns.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))];
      return issue(
        [{ name: "commonName", value: dns[0] ?? ips[0] ?? "server" }],
        [
          { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
          { name: "extKeyUsage", serverAuth: true },
          { name: "subjectAltName", altNames },
        ],
      );
    },
    issueClient(cn, organizations = []) {
      return issue(
        [{ name: "commonName", value: cn }, ...organizations.map((value) => ({ name: "organizationName", value }))],
        [
          { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
          { name: "extKeyUsage", clientAuth: true },
        ],
      );
    },
  };
}
