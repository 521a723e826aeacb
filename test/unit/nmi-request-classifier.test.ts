import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { classifyPath, cleanPath, hasMetadataHeader } from "../../src/roles/nmi/request-classifier.ts";

const open = { blockInstanceMetadata: false };
const blocking = { blockInstanceMetadata: true };
const kind = (path: string, options = open) => classifyPath(path, options).kind;

describe("token route", () => {
  test("the token path, with or without a trailing slash or a suffix, is the token route", () => {
    expect(kind("/metadata/identity/oauth2/token")).toBe("token");
    expect(kind("/metadata/identity/oauth2/token/")).toBe("token");
    expect(kind("/metadata/identity/oauth2/tokenfoo")).toBe("token");
  });

  test("'metadata' is matched case-insensitively, as the original's (?i) variable", () => {
    expect(kind("/METADATA/identity/oauth2/token")).toBe("token");
    expect(kind("/MetaData/identity/oauth2/token/")).toBe("token");
  });

  test("percent-encoded characters are decoded before matching", () => {
    expect(kind("/metadata/identity/oauth2/%74oken")).toBe("token");
  });
});

describe("anti-bypass", () => {
  test("mangled token paths get the 400 route instead of the proxy", () => {
    expect(kind("/metadata/identity\\oauth2\\token")).toBe("invalid-token-path");
    expect(kind("/metadata/identity/x/oauth2/token")).toBe("invalid-token-path");
    expect(kind("/metadata/identity%5Coauth2%5Ctoken")).toBe("invalid-token-path");
  });

  test("a capitalised 'Identity' is refused too (tightened from the original, which proxied it)", () => {
    expect(kind("/metadata/Identity/oauth2/token")).toBe("invalid-token-path");
  });

  test("property: any path that mentions metadata/identity…oauth2…token never reaches the proxy", () => {
    const noise = fc.string({ maxLength: 6 }).filter((s) => !s.includes("%"));
    fc.assert(
      fc.property(noise, noise, noise, fc.boolean(), (a, b, c, upper) => {
        const raw = `/${a}/metadata/identity${b}oauth2${c}token`;
        const path = upper ? raw.toUpperCase() : raw;
        const route = classifyPath(path, open).kind;
        expect(route).not.toBe("proxy");
      }),
    );
  });
});

describe("other routes", () => {
  test("/host/token goes to the host handler", () => {
    expect(kind("/host/token")).toBe("host-token");
    expect(kind("/host/token/")).toBe("host-token");
  });

  test("/metadata/instance is blocked only with --block-instance-metadata", () => {
    expect(kind("/metadata/instance", blocking)).toBe("blocked-instance");
    expect(kind("/Metadata/instance/compute", blocking)).toBe("blocked-instance");
    expect(kind("/metadata/instance", open)).toBe("proxy");
  });

  test("everything else is proxied", () => {
    expect(kind("/metadata/scheduledevents")).toBe("proxy");
    expect(kind("/doesnotexist")).toBe("proxy");
    expect(kind("/")).toBe("proxy");
  });

  test("malformed escapes and NULs are a bad path, not an exception", () => {
    expect(kind("/metadata/%E0%A4%A")).toBe("bad-path");
    expect(kind("/a%00b")).toBe("bad-path");
  });

  test("non-clean paths are redirected to their clean form, as gorilla/mux does", () => {
    expect(classifyPath("//metadata//identity/oauth2/token", open)).toEqual({
      kind: "redirect",
      location: "/metadata/identity/oauth2/token",
    });
    expect(classifyPath("/metadata/identity/oauth2/token/../../instance", open)).toEqual({
      kind: "redirect",
      location: "/metadata/identity/instance",
    });
  });
});

describe("cleanPath", () => {
  test("keeps a trailing slash and the root", () => {
    expect(cleanPath("/a/b/")).toBe("/a/b/");
    expect(cleanPath("/")).toBe("/");
    expect(cleanPath("/..")).toBe("/");
  });

  test("property: cleaning is idempotent and never yields '//' or dot segments", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "b", ".", "..", ""), { maxLength: 8 }), (segments) => {
        const once = cleanPath(`/${segments.join("/")}`);
        expect(cleanPath(once)).toBe(once);
        expect(once.includes("//")).toBe(false);
        expect(once.split("/").some((s) => s === "." || s === "..")).toBe(false);
      }),
    );
  });
});

test("the Metadata header must be exactly 'true'", () => {
  expect(hasMetadataHeader("true")).toBe(true);
  for (const value of ["True", "TRUE", " true", "1", "", null, undefined]) expect(hasMetadataHeader(value)).toBe(false);
});
