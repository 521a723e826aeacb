import { describe, expect, test } from "bun:test";
import { parseRequestTarget, RequestTargets } from "../../src/roles/nmi/request-target.ts";
import { mustCountHeaderBytes } from "../../src/roles/nmi/server.ts";

const BASE = "http://169.254.169.254";
const TOKEN_PATH = "/metadata/identity/oauth2/token";
const options = { blockInstanceMetadata: false };

describe("parseRequestTarget", () => {
  test("a token URL: route, first value of each parameter, and the identity it names", () => {
    const target = parseRequestTarget(
      `${BASE}${TOKEN_PATH}?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&client_id=ABC&client_id=second&msi_res_id=%2Fsubs%2Fx`,
      options,
    );
    expect(target.route).toEqual({ kind: "token" });
    expect(target.pathname).toBe(TOKEN_PATH);
    expect(target.query?.resource).toBe("https://vault.azure.net");
    expect(target.query?.client_id).toBe("ABC");
    // client_id wins over a resource id, as identity matching does.
    expect(target.identityRequest).toEqual({ clientId: "ABC", resourceId: "/subs/x" });
  });

  test("mi_res_id names the identity when msi_res_id is absent", () => {
    const target = parseRequestTarget(`${BASE}${TOKEN_PATH}?resource=r&mi_res_id=%2Fsubs%2Fy`, options);
    expect(target.identityRequest).toEqual({ clientId: "", resourceId: "/subs/y" });
  });

  test("a parameter over its length limit leaves no query (400), but the resource is still known for the log", () => {
    const target = parseRequestTarget(`${BASE}${TOKEN_PATH}?resource=r&client_id=${"c".repeat(300)}`, options);
    expect(target.query).toBeNull();
    expect(target.identityRequest).toBeNull();
    expect(target.rawResource).toBe("r");
  });

  test("routes come from the classifier, a redirect keeps its query apart", () => {
    const target = parseRequestTarget(`${BASE}/metadata//instance?api-version=1`, options);
    expect(target.route).toEqual({ kind: "redirect", location: "/metadata/instance" });
    expect(target.search).toBe("?api-version=1");
    const blocked = parseRequestTarget(`${BASE}/metadata/instance`, { blockInstanceMetadata: true });
    expect(blocked.route).toEqual({ kind: "blocked-instance" });
  });

  test("the result cannot be changed by one request for the next (it is shared)", () => {
    const target = parseRequestTarget(`${BASE}${TOKEN_PATH}?resource=r&client_id=a`, options);
    expect(Object.isFrozen(target)).toBe(true);
    expect(Object.isFrozen(target.query)).toBe(true);
    expect(Object.isFrozen(target.identityRequest)).toBe(true);
    expect(Object.isFrozen(target.route)).toBe(true);
  });
});

describe("RequestTargets", () => {
  test("a URL seen before is answered from memory, with the same result as a fresh parse", () => {
    const targets = new RequestTargets(options);
    const url = `${BASE}${TOKEN_PATH}?resource=r`;
    const first = targets.of(url);
    expect(targets.of(url)).toBe(first);
    expect(first).toEqual(parseRequestTarget(url, options));
  });

  test("the options are the ones it was made with", () => {
    const blocking = new RequestTargets({ blockInstanceMetadata: true });
    expect(blocking.of(`${BASE}/metadata/instance`).route.kind).toBe("blocked-instance");
  });

  test("memory is bounded: past maxEntries distinct URLs it starts over, and very long URLs are never kept", () => {
    const targets = new RequestTargets(options, 3);
    for (let i = 0; i < 3; i++) targets.of(`${BASE}/p${i}`);
    expect(targets.size).toBe(3);
    targets.of(`${BASE}/p3`);
    expect(targets.size).toBe(1);
    targets.of(`${BASE}${TOKEN_PATH}?resource=${"r".repeat(3000)}`);
    expect(targets.size).toBe(1);
  });
});

describe("mustCountHeaderBytes", () => {
  test("below the runtime's own header limit NMI counts; at or above it the runtime's 431 already bounds the block", () => {
    expect(mustCountHeaderBytes(4096, 16_384)).toBe(true);
    expect(mustCountHeaderBytes(16_384, 16_384)).toBe(false);
    expect(mustCountHeaderBytes(65_536, 16_384)).toBe(false);
  });

  test("an unknown runtime limit means NMI counts", () => {
    expect(mustCountHeaderBytes(65_536, 0)).toBe(true);
    expect(mustCountHeaderBytes(65_536, Number.NaN)).toBe(true);
  });
});
