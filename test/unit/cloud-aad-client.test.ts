import { describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { AadError, aadErrorFrom, authorityFor, createAadClient } from "../../src/cloud/aad-client.ts";

describe("authorityFor", () => {
  test("adEndpoint plus tenant, with or without trailing slash, keeping a port", () => {
    expect(authorityFor("https://login.microsoftonline.com/", "t1").href).toBe("https://login.microsoftonline.com/t1");
    expect(authorityFor("https://login.microsoftonline.us", "t1").href).toBe("https://login.microsoftonline.us/t1");
    expect(authorityFor("https://127.0.0.1:8443/", "t1").host).toBe("127.0.0.1:8443");
  });

  test("http endpoints, garbage and path-like tenants are refused", () => {
    expect(() => authorityFor("http://login.example/", "t")).toThrow(AadError);
    expect(() => authorityFor("not a url", "t")).toThrow(/invalid adEndpoint/);
    expect(() => authorityFor("https://login.example/", "../evil")).toThrow(/invalid tenant/);
  });
});

describe("aadErrorFrom", () => {
  test("msal's server error gives AAD's code and the AADSTS number", () => {
    const error = aadErrorFrom(
      {
        errorCode: "invalid_client",
        errorMessage:
          "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID. Trace ID: x",
        name: "ServerError",
      },
      "tenant-1",
    );
    expect(error.code).toBe("invalid_client");
    expect(error.aadsts).toBe("AADSTS7000215");
    expect(error.tenantId).toBe("tenant-1");
    expect(error.name).toBe("AadError");
  });

  test("errors without a code become unknown_error; the AADSTS number can come from errorNo", () => {
    expect(aadErrorFrom(new Error("boom"), "t").code).toBe("unknown_error");
    expect(aadErrorFrom({ errorCode: "unauthorized_client", errorMessage: "x", errorNo: "700016" }, "t").aadsts).toBe(
      "AADSTS700016",
    );
  });
});

describe("createAadClient", () => {
  test("an EC certificate is refused with a clear error, before any network call", async () => {
    let calls = 0;
    const client = createAadClient({
      fetch: async () => {
        calls++;
        return new Response("{}");
      },
    });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const error = await client
      .getTokens({
        tenantId: "t",
        clientId: "c",
        resource: "https://vault.azure.net",
        credential: {
          kind: "certificate",
          certificate: {
            certificatePem: "",
            privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
            keyType: "ec",
            thumbprintSha1: "00",
            thumbprintSha256: "00",
            x5c: "",
          },
        },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AadError);
    expect((error as AadError).code).toBe("unsupported_certificate_key");
    expect((error as AadError).message).toContain("RS256/PS256");
    expect(calls).toBe(0);
  });

  test("an http adEndpoint is refused with invalid_authority", async () => {
    const client = createAadClient({ fetch: async () => new Response("{}") });
    const error = await client
      .getTokens({
        tenantId: "t",
        clientId: "c",
        resource: "r",
        adEndpoint: "http://127.0.0.1:1/",
        credential: { kind: "secret", secret: "s" },
      })
      .catch((e: unknown) => e);
    expect((error as AadError).code).toBe("invalid_authority");
  });
});
