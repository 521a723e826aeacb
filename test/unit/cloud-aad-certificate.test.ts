import { describe, expect, test } from "bun:test";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import forge from "node-forge";
import { createCertificateAuthority } from "../../emulators/common/pki.ts";
import { CertificateError, certificateFromPem, certificateFromPfx } from "../../src/cloud/aad-certificate.ts";

const ca = createCertificateAuthority();
const app = ca.issueClient("sp-app");

function forgePfx(keyPem: string, certPems: string[], password: string, algorithm: "3des" | "aes256" = "aes256") {
  const asn1 = forge.pkcs12.toPkcs12Asn1(
    forge.pki.privateKeyFromPem(keyPem),
    certPems.map((pem) => forge.pki.certificateFromPem(pem)),
    password,
    { algorithm },
  );
  return new Uint8Array(Buffer.from(forge.asn1.toDer(asn1).getBytes(), "binary"));
}

const opensslAvailable = Bun.spawnSync(["openssl", "version"]).exitCode === 0;

/** An EC (P-256) self-signed certificate and its PFX, made by openssl as a user would. */
function opensslEcPfx(password: string): { pfx: Uint8Array; certPem: string; keyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), "ec-cert-"));
  try {
    const run = (args: string[]) => {
      const result = Bun.spawnSync(["openssl", ...args], { cwd: dir });
      if (result.exitCode !== 0) throw new Error(result.stderr.toString());
    };
    run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem"]);
    run(["req", "-new", "-x509", "-key", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=ec-app"]);
    run(["pkcs12", "-export", "-inkey", "key.pem", "-in", "cert.pem", "-out", "c.pfx", "-passout", `pass:${password}`]);
    return {
      pfx: new Uint8Array(readFileSync(join(dir, "c.pfx"))),
      certPem: readFileSync(join(dir, "cert.pem"), "utf8"),
      keyPem: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("certificateFromPfx", () => {
  test("an RSA PFX gives the certificate, a PKCS#8 key and both thumbprints", () => {
    const parsed = certificateFromPfx(forgePfx(app.keyPem, [app.certPem], "s3cret"), "s3cret");
    const der = new X509Certificate(app.certPem).raw;
    expect(parsed.keyType).toBe("rsa");
    expect(parsed.privateKeyPem).toContain("-----BEGIN PRIVATE KEY-----");
    expect(parsed.thumbprintSha1).toBe(createHash("sha1").update(der).digest("hex"));
    expect(parsed.thumbprintSha256).toBe(createHash("sha256").update(der).digest("hex"));
    expect(parsed.x5c).toBe(der.toString("base64"));
  });

  test("with a chain, the certificate matching the key is the one used", () => {
    const parsed = certificateFromPfx(forgePfx(app.keyPem, [ca.certPem, app.certPem], "pw", "3des"), "pw");
    expect(new X509Certificate(parsed.certificatePem).subject).toContain("CN=sp-app");
  });

  test("a wrong password or garbage is a CertificateError", () => {
    const pfx = forgePfx(app.keyPem, [app.certPem], "right");
    expect(() => certificateFromPfx(pfx, "wrong")).toThrow(CertificateError);
    expect(() => certificateFromPfx(new Uint8Array([1, 2, 3]), "")).toThrow(CertificateError);
  });

  test.skipIf(!opensslAvailable)(
    "an openssl-made EC PFX (PBES2/AES, SHA-256 MAC) is read and reports key type ec",
    () => {
      const ec = opensslEcPfx("pw");
      const parsed = certificateFromPfx(ec.pfx, "pw");
      expect(parsed.keyType).toBe("ec");
      expect(new X509Certificate(parsed.certificatePem).subject).toContain("CN=ec-app");
    },
  );
});

describe("certificateFromPem", () => {
  test("certificate and key in one PEM, or the key given apart", () => {
    const together = certificateFromPem(`${app.certPem}\n${app.keyPem}`);
    const apart = certificateFromPem(app.certPem, app.keyPem);
    expect(together.thumbprintSha256).toBe(apart.thumbprintSha256);
    expect(together.keyType).toBe("rsa");
  });

  test("a key that matches no certificate, or missing parts, is a CertificateError", () => {
    const other = ca.issueClient("other");
    expect(() => certificateFromPem(app.certPem, other.keyPem)).toThrow(/no certificate matches/);
    expect(() => certificateFromPem(app.certPem)).toThrow(/no private key/);
    expect(() => certificateFromPem(app.keyPem)).toThrow(/no certificate/);
  });

  test.skipIf(!opensslAvailable)("an EC PEM (SEC1 key) is read and reports key type ec", () => {
    const ec = opensslEcPfx("x");
    expect(certificateFromPem(ec.certPem, ec.keyPem).keyType).toBe("ec");
  });
});
