import { describe, expect, test } from "bun:test";
import type { Token } from "../../src/roles/nmi/ports.ts";
import { podTokenBlob, podTokenJson } from "../../src/roles/nmi/token-json.ts";

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
const token = (clientId: string): Token => ({
  accessToken: `eyJ.${clientId}.sig`,
  expiresOnMs: NOW + 3_600_000,
  notBeforeMs: NOW - 1000,
  resource: "https://management.azure.com/",
  tokenType: "Bearer",
  clientId,
});

describe("token answers as bytes", () => {
  test("the Blob holds exactly the JSON text, in IMDS's shape with client_id", async () => {
    const tokens = [token("cid")];
    const text = podTokenJson(tokens, NOW);
    expect(await podTokenBlob(tokens, NOW).text()).toBe(text);
    expect(JSON.parse(text)).toMatchObject({ client_id: "cid", expires_in: "3600", token_type: "Bearer" });
  });

  test("within one second the same Blob is reused; when expires_in ticks down a new one says so", async () => {
    const tokens = [token("cid")];
    const first = podTokenBlob(tokens, NOW + 1); // 3599.999 s left
    expect(podTokenBlob(tokens, NOW + 999)).toBe(first); // 3599.001 s left: still "3599"
    const later = podTokenBlob(tokens, NOW + 1001);
    expect(later).not.toBe(first);
    expect(JSON.parse(await later.text()).expires_in).toBe("3598");
  });

  test("a multi-tenant answer is the original's JSON array, primary first", async () => {
    const tokens = [token("primary"), token("aux")];
    const parsed = JSON.parse(await podTokenBlob(tokens, NOW).text());
    expect(parsed.map((t: { client_id: string }) => t.client_id)).toEqual(["primary", "aux"]);
  });
});
