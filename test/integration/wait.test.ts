// `pod-identity wait` as an init container runs it: the COMPILED binary against small servers on
// 127.0.0.1 standing for NMI's /healthz probe and the metadata endpoint. Uses dist/pod-identity when it
// is newer than every source file; otherwise builds a private copy in a temp directory.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTokenIssuer, type TokenIssuer } from "../../emulators/common/jwt.ts";
import { compiledBinary } from "../support/compiled-binary.ts";

let binary = "";

const clientId = "11111111-aaaa-4bbb-8ccc-000000000001";
const objectId = "22222222-aaaa-4bbb-8ccc-000000000002";
const otherClientId = "33333333-aaaa-4bbb-8ccc-000000000003";
const resource = "https://vault.azure.net";

// NMI's probe: "Not Active" (503, as our NMI answers) for the first `notActiveAnswers` probes.
let notActiveAnswers = 0;
let probes = 0;
// The metadata endpoint: each test sets how it answers; every request is recorded.
let answerToken: (url: URL) => Promise<Response> = async () => new Response("unset", { status: 500 });
const tokenRequests: { url: URL; metadata: string | null }[] = [];

let issuer: TokenIssuer;
let probeServer: ReturnType<typeof Bun.serve>;
let metadataServer: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  issuer = await createTokenIssuer();
  probeServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      if (new URL(request.url).pathname !== "/healthz") return new Response("not found", { status: 404 });
      probes++;
      return probes <= notActiveAnswers ? new Response("Not Active", { status: 503 }) : new Response("Active");
    },
  });
  metadataServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      tokenRequests.push({ url, metadata: request.headers.get("metadata") });
      return answerToken(url);
    },
  });
  binary = await compiledBinary();
}, 120_000);

afterAll(() => {
  probeServer?.stop(true);
  metadataServer?.stop(true);
});

function reset(options: { notActive?: number } = {}): void {
  notActiveAnswers = options.notActive ?? 0;
  probes = 0;
  tokenRequests.length = 0;
}

/** Async spawn: the servers above answer from this same event loop while the binary runs. */
async function wait(args: string[], env: Record<string, string> = {}) {
  const child = Bun.spawn([binary, "wait", ...args], {
    env: { PATH: process.env.PATH ?? "", HOST_IP: "127.0.0.1", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  return { code, stdout, stderr };
}

const probeFlags = () => ["--nmi-probe-port", String(probeServer.port), "--interval", "50ms", "--timeout", "10s"];
const tokenFlags = () => [
  "--token",
  "--resource",
  resource,
  "--metadata-url",
  `http://127.0.0.1:${metadataServer.port}`,
];

async function tokenResponse(appid: string, oid: string): Promise<Response> {
  const accessToken = await issuer.issue({ oid, appid, tid: "tenant-1", aud: resource });
  const now = Math.floor(Date.now() / 1000);
  return Response.json({
    access_token: accessToken,
    expires_in: "3599",
    expires_on: String(now + 3599),
    not_before: String(now),
    resource,
    token_type: "Bearer",
  });
}

describe("pod-identity wait (compiled)", () => {
  test("waits through Not Active until NMI (found through HOST_IP) answers Active, then exits 0", async () => {
    reset({ notActive: 3 });
    const result = await wait(probeFlags());
    expect(result).toEqual({ code: 0, stdout: "Active\n", stderr: "" });
    expect(probes).toBe(4);
  });

  test("exits 1 naming the probe and NMI's last answer when Active never comes", async () => {
    reset({ notActive: Number.MAX_SAFE_INTEGER });
    const result = await wait([...probeFlags(), "--timeout", "400ms"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      `pod-identity wait: NMI not Active at http://127.0.0.1:${probeServer.port}/healthz after 400ms (last: HTTP 503 Not Active)\n`,
    );
  });

  test("a token naming the expected identity exits 0 and prints that identity, never the token", async () => {
    reset();
    let issued = "";
    answerToken = async () => {
      const response = await tokenResponse(clientId, objectId);
      issued = ((await response.clone().json()) as { access_token: string }).access_token;
      return response;
    };
    const result = await wait([
      ...probeFlags(),
      ...tokenFlags(),
      "--client-id",
      clientId,
      "--expect-client-id",
      clientId.toUpperCase(),
      "--expect-object-id",
      objectId,
    ]);
    expect(result).toEqual({
      code: 0,
      stdout: `Active\ntoken for ${resource}: client id ${clientId}, object id ${objectId}\n`,
      stderr: "",
    });
    expect(issued).not.toBe("");
    expect(result.stdout + result.stderr).not.toContain(issued);
    expect(tokenRequests).toHaveLength(1);
    const request = tokenRequests[0];
    expect(request?.metadata).toBe("true");
    expect(request?.url.pathname).toBe("/metadata/identity/oauth2/token");
    expect(Object.fromEntries(request?.url.searchParams ?? [])).toEqual({
      "api-version": "2018-02-01",
      resource,
      client_id: clientId,
    });
  });

  test("a token of another identity exits 4 naming both client ids", async () => {
    reset();
    answerToken = () => tokenResponse(otherClientId, objectId);
    const result = await wait([...probeFlags(), ...tokenFlags(), "--expect-client-id", clientId]);
    expect(result.code).toBe(4);
    expect(result.stderr).toBe(
      `pod-identity wait: token for ${resource} names another identity: client id ${otherClientId}, expected ${clientId}\n`,
    );
  });

  test("404 (identity not assigned yet) is retried until the token comes: exit 0", async () => {
    reset();
    answerToken = async () =>
      tokenRequests.length <= 2
        ? new Response("getting assigned identities for pod default/app in CREATED state failed", { status: 404 })
        : tokenResponse(clientId, objectId);
    const result = await wait([...probeFlags(), ...tokenFlags(), "--expect-object-id", objectId, "--quiet"]);
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(tokenRequests).toHaveLength(3);
  });

  test("403 is final: exit 3 after one request, with NMI's reason", async () => {
    reset();
    answerToken = async () =>
      Response.json({ error: "invalid_request", error_description: "Identity not found" }, { status: 403 });
    const result = await wait([...probeFlags(), ...tokenFlags()]);
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(
      `pod-identity wait: token request for ${resource} failed: HTTP 403 invalid_request: Identity not found\n`,
    );
    expect(tokenRequests).toHaveLength(1);
  });

  test("no token before the timeout exits 3 with the last answer", async () => {
    reset();
    answerToken = async () => new Response("no identity yet", { status: 404 });
    const result = await wait([...probeFlags(), ...tokenFlags(), "--timeout", "400ms"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(
      `pod-identity wait: no token for ${resource} after 400ms (last: HTTP 404 no identity yet)\n`,
    );
    expect(tokenRequests.length).toBeGreaterThan(1);
  });

  test("proxy variables in the pod's environment do not divert the probe or the token request", async () => {
    reset();
    const proxied: string[] = [];
    const proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        proxied.push(request.url);
        return new Response("proxy", { status: 502 });
      },
    });
    try {
      answerToken = () => tokenResponse(clientId, objectId);
      const proxyUrl = `http://127.0.0.1:${proxy.port}`;
      const result = await wait([...probeFlags(), ...tokenFlags()], { HTTP_PROXY: proxyUrl, http_proxy: proxyUrl });
      expect(result.code).toBe(0);
      expect(proxied).toEqual([]);
      expect(tokenRequests).toHaveLength(1);
    } finally {
      proxy.stop(true);
    }
  });

  test("bad flags exit 2 with one line and send nothing", async () => {
    reset();
    const result = await wait([...probeFlags(), "--expect-client-id", clientId]);
    expect(result).toEqual({ code: 2, stdout: "", stderr: "pod-identity wait: --expect-client-id needs --token\n" });
    expect(probes).toBe(0);
  });

  test("--help lists the exit codes", async () => {
    const result = await wait(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Exit codes:");
    expect(result.stdout).toMatch(/^ {2}4 {2}.*another identity/m);
  });
});
