// The wait sequence against scripted answers and a virtual clock: which requests it sends, how long it
// pauses, and which outcome it reaches. No sockets, no real time.
import { describe, expect, test } from "bun:test";
import type { WaitConfig } from "../../src/config/index.ts";
import { pollUntil } from "../../src/wait/poll.ts";
import { describeRequestError, runWait, type WaitIo } from "../../src/wait/run.ts";

type Answer = Response | Error;

function fakeIo(script: (url: URL, init: RequestInit) => Answer) {
  let clock = 0;
  const requests: { at: number; url: URL; headers: Headers }[] = [];
  const sleeps: number[] = [];
  const announced: string[] = [];
  const io: WaitIo = {
    now: () => clock,
    epochNow: () => 1_700_000_000_000 + clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    fetch: async (url, init) => {
      const parsed = new URL(url);
      requests.push({ at: clock, url: parsed, headers: new Headers(init.headers) });
      clock += 5; // every request takes a little time
      const answer = script(parsed, init);
      if (answer instanceof Error) throw answer;
      return answer;
    },
    announce: (line) => announced.push(line),
  };
  return { io, requests, sleeps, announced };
}

const base: WaitConfig = { nmiHost: "10.0.0.4", nmiProbePort: 8085, timeoutMs: 10_000, intervalMs: 1000, quiet: false };
const withToken: WaitConfig = {
  ...base,
  token: { resource: "https://vault.azure.net", metadataUrl: "http://127.0.0.1:9", expectClientId: "CLIENT" },
};
const jwtFor = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
const tokenAnswer = (claims: object) => Response.json({ access_token: jwtFor(claims), token_type: "Bearer" });
const refused = () => Object.assign(new Error("Unable to connect"), { code: "ECONNREFUSED" });

describe("waiting for Active", () => {
  test("connection errors and Not Active are retried every interval until Active", async () => {
    const answers: Answer[] = [refused(), new Response("Not Active", { status: 503 }), new Response("Active")];
    const { io, requests, sleeps, announced } = fakeIo(() => answers.shift() ?? new Error("unexpected request"));
    expect(await runWait(base, io)).toEqual({ kind: "ready" });
    expect(requests.map((r) => r.url.toString())).toEqual(Array(3).fill("http://10.0.0.4:8085/healthz"));
    expect(sleeps).toEqual([1000, 1000]);
    expect(announced).toEqual(["Active"]);
  });

  test("gives up at the deadline with the last answer; no request starts after it", async () => {
    const { io, requests } = fakeIo(() => new Response("Not Active", { status: 200 }));
    const outcome = await runWait({ ...base, timeoutMs: 3500 }, io);
    expect(outcome).toEqual({
      kind: "not-active",
      url: "http://10.0.0.4:8085/healthz",
      timeoutMs: 3500,
      lastObserved: "HTTP 200 Not Active",
    });
    expect(requests.every((r) => r.at < 3500)).toBe(true);
    expect(requests.length).toBe(4);
  });

  test("--quiet announces nothing", async () => {
    const { io, announced } = fakeIo(() => new Response("Active"));
    await runWait({ ...base, quiet: true }, io);
    expect(announced).toEqual([]);
  });
});

describe("the token check", () => {
  test("sends Metadata: true to the metadata address and accepts the expected identity", async () => {
    const { io, requests } = fakeIo((url) =>
      url.pathname === "/healthz" ? new Response("Active") : tokenAnswer({ appid: "client", oid: "o1" }),
    );
    const outcome = await runWait(withToken, io);
    expect(outcome).toEqual({
      kind: "ready",
      token: { resource: "https://vault.azure.net", identity: { clientId: "client", objectId: "o1" } },
    });
    const tokenRequest = requests[1];
    expect(tokenRequest?.url.origin).toBe("http://127.0.0.1:9");
    expect(tokenRequest?.headers.get("metadata")).toBe("true");
  });

  test("404 (not assigned yet) is retried; 503 with Retry-After pauses as asked", async () => {
    const answers: Answer[] = [
      new Response("Active"),
      new Response("no identity yet", { status: 404 }),
      new Response("busy", { status: 503, headers: { "Retry-After": "3" } }),
      tokenAnswer({ appid: "CLIENT" }),
    ];
    const { io, sleeps } = fakeIo(() => answers.shift() ?? new Error("unexpected request"));
    expect((await runWait(withToken, io)).kind).toBe("ready");
    expect(sleeps).toEqual([1000, 3000]);
  });

  test("403 is final: one request, exit reason names the answer", async () => {
    const { io, requests } = fakeIo((url) =>
      url.pathname === "/healthz" ? new Response("Active") : new Response("failed to get token", { status: 403 }),
    );
    expect(await runWait(withToken, io)).toEqual({
      kind: "token-final-error",
      resource: "https://vault.azure.net",
      observed: "HTTP 403 failed to get token",
    });
    expect(requests.length).toBe(2);
  });

  test("no token before the deadline is a token timeout, not a health timeout", async () => {
    const { io } = fakeIo((url) => (url.pathname === "/healthz" ? new Response("Active") : refused()));
    expect(await runWait({ ...withToken, timeoutMs: 2500 }, io)).toMatchObject({
      kind: "token-timeout",
      lastObserved: "connection failed (ECONNREFUSED)",
    });
  });

  test("a token of another identity, or one whose claims cannot be read, is a wrong identity", async () => {
    const other = fakeIo((url) => (url.pathname === "/healthz" ? new Response("Active") : tokenAnswer({ appid: "x" })));
    expect(await runWait(withToken, other.io)).toEqual({
      kind: "wrong-identity",
      resource: "https://vault.azure.net",
      problems: ["client id x, expected CLIENT"],
    });
    const opaque = fakeIo((url) =>
      url.pathname === "/healthz" ? new Response("Active") : Response.json({ access_token: "opaque" }),
    );
    expect(await runWait(withToken, opaque.io)).toEqual({
      kind: "wrong-identity",
      resource: "https://vault.azure.net",
      problems: ["its claims cannot be read (not a JWT)"],
    });
  });

  test("without expectations any readable or opaque token is fine", async () => {
    const { io } = fakeIo((url) =>
      url.pathname === "/healthz" ? new Response("Active") : Response.json({ access_token: "opaque" }),
    );
    const check = { resource: "r", metadataUrl: "http://127.0.0.1:9" };
    expect(await runWait({ ...base, token: check }, io)).toEqual({
      kind: "ready",
      token: { resource: "r", identity: undefined },
    });
  });
});

describe("pollUntil", () => {
  const clockAt = (start = 0) => {
    let now = start;
    return {
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
      },
      advance: (ms: number) => {
        now += ms;
      },
    };
  };

  test("an attempt cut short by the deadline does not hide the last real answer", async () => {
    const clock = clockAt();
    const result = await pollUntil(clock, 2500, 1000, async (remaining) => {
      if (remaining > 1000) return { kind: "again", observed: "HTTP 404 not assigned" };
      clock.advance(remaining);
      return { kind: "again", observed: "no answer within 500ms", cutByDeadline: true };
    });
    expect(result).toEqual({ settled: false, lastObserved: "HTTP 404 not assigned" });
  });

  test("when the only attempt was cut by the deadline, that is what is reported", async () => {
    const clock = clockAt();
    const result = await pollUntil(clock, 500, 100, async (remaining) => {
      clock.advance(remaining);
      return { kind: "again", observed: "no answer within 500ms", cutByDeadline: true };
    });
    expect(result).toEqual({ settled: false, lastObserved: "no answer within 500ms" });
  });
});

test("request errors read as a timeout or a connection failure", () => {
  expect(describeRequestError(new DOMException("timed out", "TimeoutError"), 2000)).toBe("no answer within 2s");
  expect(describeRequestError(Object.assign(new Error("x"), { code: "ECONNREFUSED" }), 1)).toBe(
    "connection failed (ECONNREFUSED)",
  );
  expect(describeRequestError(new Error("socket hang up"), 1)).toBe("connection failed (socket hang up)");
});
