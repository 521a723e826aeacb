import { describe, expect, test } from "bun:test";
import {
  ArmError,
  ArmIdentityError,
  ArmNotFoundError,
  ArmThrottledError,
  classifyArmFailure,
  DEFAULT_THROTTLE_RETRY_MS,
  extractIdentityIds,
  parseRetryAfter,
} from "../../src/cloud/arm-errors.ts";
import { rawArmFailure } from "../../src/cloud/arm-identity-client.ts";

const NOW = Date.parse("2026-11-22T15:00:00Z");

describe("parseRetryAfter", () => {
  test("delta-seconds become milliseconds", () => {
    expect(parseRetryAfter("120", NOW)).toBe(120_000);
    expect(parseRetryAfter(" 7 ", NOW)).toBe(7_000);
    expect(parseRetryAfter("0", NOW)).toBe(0);
  });

  test("an HTTP-date becomes the time left until it", () => {
    expect(parseRetryAfter("Sun, 22 Nov 2026 15:03:00 GMT", NOW)).toBe(180_000);
    expect(parseRetryAfter(new Date(NOW + 42_000).toUTCString(), NOW)).toBe(42_000);
  });

  test("a date in the past means retry now", () => {
    expect(parseRetryAfter("Sun, 22 Nov 2026 14:00:00 GMT", NOW)).toBe(0);
  });

  test("missing or unreadable values give undefined", () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    expect(parseRetryAfter("", NOW)).toBeUndefined();
    expect(parseRetryAfter("-5", NOW)).toBeUndefined();
    expect(parseRetryAfter("1.5", NOW)).toBeUndefined();
    expect(parseRetryAfter("soon", NOW)).toBeUndefined();
    expect(parseRetryAfter("Sun, 99 Foo 2026 15:03:00 GMT", NOW)).toBeUndefined();
  });
});

const ID1 =
  "/subscriptions/be897230-b9c9-4a72-a711-3cd92b189e70/resourcegroups/Cards/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cards-api";
const ID2 =
  "/subscriptions/xxxxxxxx-4321-8765-xxxx-xxxxxxxxxxxx/resourcegroups/rg-4567/providers/Microsoft.ManagedIdentity/userAssignedIdentities/user_id-2";
const VMSS =
  "/subscriptions/be897230-b9c9-4a72-a711-3cd92b189e70/resourceGroups/MC_Cards_API-us-east_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-agentpool-32042527-vmss";

// The shape ARM returns when the caller lacks Managed Identity Operator on the identities
// (aad-pod-identity issue #585 and its unit tests).
const linkedAuthorizationMessage = (scopes: string) =>
  `The client 'd7586b94-0a56-43cc-b3f4-4e91d133fe67' with object id 'd7586b94-0a56-43cc-b3f4-4e91d133fe67' has permission to perform action 'Microsoft.Compute/virtualMachineScaleSets/write' on scope '${VMSS}'; however, it does not have permission to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '${scopes}' or the linked scope(s) are invalid.`;

// The shape ARM returns when an identity does not exist: the identity service's JSON response embedded.
const failedIdentityMessage = (id: string) =>
  `Identity operation for resource '${VMSS}' failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: '{"error":{"code":"NotFound","message":"Resource '${id}' was not found."}}'.'.`;

describe("extractIdentityIds", () => {
  test("one identity in a LinkedAuthorizationFailed message", () => {
    expect(extractIdentityIds(linkedAuthorizationMessage(ID1))).toEqual([ID1]);
  });

  test("comma-separated identities in a LinkedAuthorizationFailed message, and not the VMSS scope", () => {
    expect(extractIdentityIds(linkedAuthorizationMessage(`${ID1},${ID2}`))).toEqual([ID1, ID2]);
  });

  test("the identity named in a FailedIdentityOperation message, also with escaped quotes", () => {
    expect(extractIdentityIds(failedIdentityMessage(ID2))).toEqual([ID2]);
    const escaped = JSON.stringify({ message: failedIdentityMessage(ID1) });
    expect(extractIdentityIds(escaped)).toEqual([ID1]);
  });

  test("duplicates differing only in case are reported once", () => {
    expect(extractIdentityIds(`'${ID1}' and '${ID1.toUpperCase()}'`)).toEqual([ID1]);
  });

  test("a message without identities gives an empty list", () => {
    expect(extractIdentityIds("error message")).toEqual([]);
    expect(extractIdentityIds(`scope '${VMSS}'`)).toEqual([]);
  });
});

describe("classifyArmFailure", () => {
  test("429 is ArmThrottledError with the header's delay, or the default without one", () => {
    const throttled = classifyArmFailure(
      { statusCode: 429, code: "TooManyRequests", message: "slow down", retryAfter: "30" },
      NOW,
    );
    expect(throttled).toBeInstanceOf(ArmThrottledError);
    expect((throttled as ArmThrottledError).retryAfterMs).toBe(30_000);
    const noHeader = classifyArmFailure({ statusCode: 429, code: undefined, message: "x", retryAfter: undefined }, NOW);
    expect((noHeader as ArmThrottledError).retryAfterMs).toBe(DEFAULT_THROTTLE_RETRY_MS);
  });

  test("LinkedAuthorizationFailed by code is ArmIdentityError with the identity IDs", () => {
    const error = classifyArmFailure(
      {
        statusCode: 403,
        code: "LinkedAuthorizationFailed",
        message: linkedAuthorizationMessage(`${ID1},${ID2}`),
        retryAfter: undefined,
      },
      NOW,
    );
    expect(error).toBeInstanceOf(ArmIdentityError);
    expect(error.code).toBe("LinkedAuthorizationFailed");
    expect((error as ArmIdentityError).identityIds).toEqual([ID1, ID2]);
    expect(error.statusCode).toBe(403);
  });

  test("FailedIdentityOperation found only in a long-running operation's message text", () => {
    const error = classifyArmFailure(
      {
        statusCode: undefined,
        code: undefined,
        message: `The long-running operation has failed. FailedIdentityOperation. ${failedIdentityMessage(ID2)}`,
        retryAfter: undefined,
      },
      NOW,
    );
    expect(error).toBeInstanceOf(ArmIdentityError);
    expect(error.code).toBe("FailedIdentityOperation");
    expect((error as ArmIdentityError).identityIds).toEqual([ID2]);
  });

  test("404 is ArmNotFoundError; other failures keep status, code and Retry-After", () => {
    const missing = classifyArmFailure(
      { statusCode: 404, code: "ResourceNotFound", message: "gone", retryAfter: undefined },
      NOW,
    );
    expect(missing).toBeInstanceOf(ArmNotFoundError);
    expect(missing.code).toBe("ResourceNotFound");
    const busy = classifyArmFailure({ statusCode: 503, code: undefined, message: "busy", retryAfter: "5" }, NOW);
    expect(busy).toBeInstanceOf(ArmError);
    expect(busy).not.toBeInstanceOf(ArmThrottledError);
    expect(busy.statusCode).toBe(503);
    expect(busy.code).toBe("Http503");
    expect(busy.retryAfterMs).toBe(5_000);
    expect(busy.name).toBe("ArmError");
  });
});

describe("rawArmFailure", () => {
  test("reads a RestError-like object's status, code and Retry-After header", () => {
    const headers = new Map([["retry-after", "12"]]);
    expect(
      rawArmFailure({
        statusCode: 429,
        code: "TooManyRequests",
        message: "throttled",
        response: { headers: { get: (name: string) => headers.get(name) } },
      }),
    ).toEqual({ statusCode: 429, code: "TooManyRequests", message: "throttled", retryAfter: "12" });
  });

  test("takes the code from a failed long-running operation's message", () => {
    const failure = rawArmFailure(
      new Error(
        "The long-running operation has failed. FailedIdentityOperation. Identity operation for resource failed",
      ),
    );
    expect(failure.code).toBe("FailedIdentityOperation");
    expect(failure.statusCode).toBeUndefined();
    expect(rawArmFailure("plain text").message).toBe("plain text");
  });
});
