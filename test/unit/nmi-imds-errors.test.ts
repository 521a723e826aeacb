import { describe, expect, test } from "bun:test";
import {
  ErrorText,
  identityNotReady,
  imdsError,
  noIdentityForClientId,
  redactClientId,
} from "../../src/roles/nmi/imds-errors.ts";

describe("IMDS-shaped errors", () => {
  test("the metadata header error is exactly the original's JSON", () => {
    expect(imdsError(400, ErrorText.metadataHeader)).toEqual({
      status: 400,
      body: { error: "invalid_request", error_description: "Required metadata header not specified" },
      headers: undefined,
    });
  });

  test("client ids are redacted as the original: first 4, marker, last 4", () => {
    expect(redactClientId("00000000-1111-2222-3333-444455556666")).toBe("0000##### REDACTED #####6666");
    expect(noIdentityForClientId(redactClientId("abcdefghijkl"))).toBe(
      "no azure identity found for request clientID abcd##### REDACTED #####ijkl",
    );
  });

  test("short client ids are fully redacted", () => {
    expect(redactClientId("abc")).not.toContain("abc");
  });

  test("identity-not-ready is 404, or 503 with Retry-After: 20 when asked", () => {
    expect(identityNotReady("x", false).status).toBe(404);
    const retry = identityNotReady("x", true);
    expect(retry.status).toBe(503);
    expect(retry.headers).toEqual({ "Retry-After": "20" });
  });
});
