import { describe, expect, test } from "bun:test";
import { createTokenIssuer } from "../../emulators/common/jwt.ts";
import { identityMismatches, tokenIdentity } from "../../src/wait/claims.ts";
import { waitExitCodes } from "../../src/wait/exit-codes.ts";
import { healthzUrl, judgeHealth } from "../../src/wait/health.ts";
import { nextDelayMs } from "../../src/wait/next-delay.ts";
import { exitCodeFor, outcomeLine, type WaitOutcome } from "../../src/wait/outcome.ts";
import { retryAfterMs } from "../../src/wait/retry-after.ts";
import { describeErrorBody, judgeTokenResponse } from "../../src/wait/token-response.ts";
import { tokenRequestUrl } from "../../src/wait/token-url.ts";

describe("NMI health", () => {
  test("only 200 with body Active is ready", () => {
    expect(judgeHealth(200, "Active")).toEqual({ active: true });
    expect(judgeHealth(200, "Active\n")).toEqual({ active: true });
  });

  test("our NMI's 503 Not Active and the original's 200 Not Active both mean not ready", () => {
    expect(judgeHealth(503, "Not Active")).toEqual({ active: false, observed: "HTTP 503 Not Active" });
    expect(judgeHealth(200, "Not Active")).toEqual({ active: false, observed: "HTTP 200 Not Active" });
    expect(judgeHealth(404, "")).toEqual({ active: false, observed: "HTTP 404" });
  });

  test("the probe URL brackets IPv6 hosts", () => {
    expect(healthzUrl("10.0.0.4", 8085)).toBe("http://10.0.0.4:8085/healthz");
    expect(healthzUrl("fd00::4", 8085)).toBe("http://[fd00::4]:8085/healthz");
  });
});

describe("token responses", () => {
  test("a 200 IMDS token body yields the access token", () => {
    const body = JSON.stringify({ access_token: "abc.def.ghi", expires_in: "3599", token_type: "Bearer" });
    expect(judgeTokenResponse(200, body)).toEqual({ kind: "token", accessToken: "abc.def.ghi" });
  });

  test("NMI's array answer (multi-tenant service principal) yields the primary token", () => {
    const body = JSON.stringify([{ access_token: "primary" }, { access_token: "aux" }]);
    expect(judgeTokenResponse(200, body)).toEqual({ kind: "token", accessToken: "primary" });
  });

  test("a 200 that is not a token response is final and does not echo the body", () => {
    const verdict = judgeTokenResponse(200, '{"accessToken":"secret-looking"}');
    expect(verdict.kind).toBe("final");
    expect(JSON.stringify(verdict)).not.toContain("secret-looking");
  });

  test.each([404, 410, 429, 500, 503])("HTTP %p is retried", (status) => {
    expect(judgeTokenResponse(status, "not yet").kind).toBe("retry");
  });

  test.each([400, 401, 403, 405])("HTTP %p is final", (status) => {
    expect(judgeTokenResponse(status, "no").kind).toBe("final");
  });

  test("IMDS JSON errors are summarised as error: description", () => {
    const body = JSON.stringify({ error: "invalid_request", error_description: "Identity not found" });
    expect(judgeTokenResponse(400, body)).toEqual({
      kind: "final",
      observed: "HTTP 400 invalid_request: Identity not found",
    });
    expect(describeErrorBody("getting assigned identities\nfailed")).toBe("getting assigned identities failed");
    expect(describeErrorBody("x".repeat(500)).length).toBe(200);
  });

  test("the request URL carries api-version, resource and the one identity parameter", () => {
    const url = new URL(
      tokenRequestUrl({
        resource: "https://vault.azure.net",
        metadataUrl: "http://127.0.0.1:9",
        selector: { param: "msi_res_id", value: "/subscriptions/s/rg/x" },
      }),
    );
    expect(url.origin + url.pathname).toBe("http://127.0.0.1:9/metadata/identity/oauth2/token");
    expect([...url.searchParams]).toEqual([
      ["api-version", "2018-02-01"],
      ["resource", "https://vault.azure.net"],
      ["msi_res_id", "/subscriptions/s/rg/x"],
    ]);
  });
});

describe("retry pacing", () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);

  test("Retry-After in seconds or as an HTTP date", () => {
    expect(retryAfterMs("20", now)).toBe(20_000);
    expect(retryAfterMs(new Date(now + 5000).toUTCString(), now)).toBe(5000);
    expect(retryAfterMs(new Date(now - 5000).toUTCString(), now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs("soon", now)).toBeUndefined();
  });

  test("the pause is the interval, or the server's longer delay, never past the deadline", () => {
    expect(nextDelayMs(1000, undefined, 60_000)).toBe(1000);
    expect(nextDelayMs(1000, 20_000, 60_000)).toBe(20_000);
    expect(nextDelayMs(1000, 100, 60_000)).toBe(1000);
    expect(nextDelayMs(1000, 20_000, 3000)).toBe(3000);
  });
});

describe("token claims", () => {
  test("appid and oid of a signed token are read (no signature check)", async () => {
    const issuer = await createTokenIssuer();
    const jwt = await issuer.issue({ oid: "OBJ-1", appid: "CLIENT-1", tid: "t", aud: "https://vault.azure.net" });
    expect(tokenIdentity(jwt)).toEqual({ clientId: "CLIENT-1", objectId: "OBJ-1" });
  });

  test("a v2 token's azp is the client id; a non-JWT has no readable identity", () => {
    const payload = Buffer.from(JSON.stringify({ azp: "c2", oid: "o2" })).toString("base64url");
    expect(tokenIdentity(`e30.${payload}.sig`)).toEqual({ clientId: "c2", objectId: "o2" });
    expect(tokenIdentity("opaque-token")).toBeUndefined();
  });

  test("ids compare case-insensitively", () => {
    const actual = { clientId: "aaaa-BBBB", objectId: "cccc" };
    expect(identityMismatches(actual, { clientId: "AAAA-bbbb", objectId: "CCCC" })).toEqual([]);
    expect(identityMismatches(actual, {})).toEqual([]);
  });

  test("each differing or missing claim is named", () => {
    const actual = { clientId: "other" };
    expect(identityMismatches(actual, { clientId: "mine", objectId: "oid-1" })).toEqual([
      "client id other, expected mine",
      "object id (none), expected oid-1",
    ]);
    expect(identityMismatches(undefined, { clientId: "mine" })).toEqual(["its claims cannot be read (not a JWT)"]);
    expect(identityMismatches(undefined, {})).toEqual([]);
  });
});

describe("outcomes", () => {
  const cases: [string, WaitOutcome, number, string | undefined][] = [
    ["ready", { kind: "ready" }, waitExitCodes.ready, undefined],
    ["ready with token", { kind: "ready", token: { resource: "r", identity: { clientId: "c" } } }, 0, "stdout"],
    ["not-active", { kind: "not-active", url: "http://h:1/healthz", timeoutMs: 1000, lastObserved: "x" }, 1, "stderr"],
    ["token-final-error", { kind: "token-final-error", resource: "r", observed: "HTTP 403 x" }, 3, "stderr"],
    ["token-timeout", { kind: "token-timeout", resource: "r", timeoutMs: 1000, lastObserved: "x" }, 3, "stderr"],
    ["wrong-identity", { kind: "wrong-identity", resource: "r", problems: ["client id a, expected b"] }, 4, "stderr"],
  ];

  test.each(cases)("%s exits %p and reports on %p", (_label, outcome, code, stream) => {
    expect<number>(exitCodeFor(outcome)).toBe(code);
    expect<string | undefined>(outcomeLine(outcome)?.stream).toBe(stream);
  });

  test("lines say what happened, with the timeout and the last answer", () => {
    expect(
      outcomeLine({
        kind: "not-active",
        url: "http://h:1/healthz",
        timeoutMs: 120_000,
        lastObserved: "HTTP 503 Not Active",
      })?.text,
    ).toBe("pod-identity wait: NMI not Active at http://h:1/healthz after 2m0s (last: HTTP 503 Not Active)");
    expect(
      outcomeLine({ kind: "ready", token: { resource: "r", identity: { clientId: "c", objectId: "o" } } })?.text,
    ).toBe("token for r: client id c, object id o");
  });
});
