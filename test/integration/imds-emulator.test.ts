// The IMDS emulator: token endpoint rules (Metadata header, parameters, identity selection,
// propagation delay), IMDS's limits, runtime fault injection, /metadata/instance, the standalone
// process entry, and the real @azure/identity ManagedIdentityCredential against it (in a subprocess whose
// AZURE_POD_IDENTITY_AUTHORITY_HOST points at the emulator, never at 169.254.169.254).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ArmEmulator, startArmEmulator } from "../../emulators/arm/index.ts";
import { createTokenIssuer, decodeClaims, type TokenIssuer } from "../../emulators/common/jwt.ts";
import { type ImdsEmulator, startImdsEmulator } from "../../emulators/imds/index.ts";
import { createRequestLimiter } from "../../emulators/imds/request-limiter.ts";

const SUB = "11111111-2222-3333-4444-555555555555";
const vmssId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/nodes/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
const vmId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/nodes/providers/Microsoft.Compute/virtualMachines/${name}`;
const identityId = (name: string) =>
  `/subscriptions/${SUB}/resourcegroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const ARM_RESOURCE = "https://management.azure.com/";

let arm: ArmEmulator;
let issuer: TokenIssuer;
const started: ImdsEmulator[] = [];

async function imdsFor(vmResourceId: string, extra: Partial<Parameters<typeof startImdsEmulator>[0]> = {}) {
  const imds = await startImdsEmulator({ arm, vmResourceId, issuer, ...extra });
  started.push(imds);
  return imds;
}

function tokenUrl(imds: ImdsEmulator, params: Record<string, string>) {
  return `${imds.url}/metadata/identity/oauth2/token?${new URLSearchParams({ "api-version": "2018-02-01", ...params })}`;
}

const getJson = async (url: string, headers: Record<string, string> = { Metadata: "true" }) => {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
};

/** Assigns identities through ARM's own PATCH + LRO, as MIC would. */
async function assign(resourceId: string, ids: string[]) {
  const res = await fetch(`${arm.url}${resourceId}?api-version=2026-04-01`, {
    method: "PATCH",
    headers: { authorization: "Bearer t", "content-type": "application/json" },
    body: JSON.stringify({
      identity: { type: "UserAssigned", userAssignedIdentities: Object.fromEntries(ids.map((i) => [i, {}])) },
    }),
  });
  expect(res.status).toBe(200);
  const op = res.headers.get("azure-asyncoperation") ?? "";
  for (let i = 0; i < 100; i++) {
    const status = (await (await fetch(op, { headers: { authorization: "Bearer t" } })).json()) as { status: string };
    if (status.status === "Succeeded") return;
    await Bun.sleep(5);
  }
  throw new Error("operation did not complete");
}

/** Runs ManagedIdentityCredential.getToken in a fresh bun process pointed at the emulator. */
async function sdkGetToken(imds: ImdsEmulator, credentialOptions: Record<string, string>) {
  const script = `
    const { ManagedIdentityCredential } = await import("@azure/identity");
    const options = JSON.parse(process.env.CRED_OPTIONS);
    try {
      const t = await new ManagedIdentityCredential(options).getToken("https://management.azure.com/.default");
      console.log(JSON.stringify({ token: t.token }));
    } catch (e) {
      console.log(JSON.stringify({ error: e.name, message: e.message }));
    }`;
  const proc = Bun.spawn([process.execPath, "--eval", script], {
    cwd: join(import.meta.dir, "../.."),
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url,
      CRED_OPTIONS: JSON.stringify(credentialOptions),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  const line = out.trim().split("\n").at(-1) ?? "{}";
  return JSON.parse(line) as { token?: string; error?: string; message?: string };
}

beforeAll(async () => {
  issuer = await createTokenIssuer();
  arm = await startArmEmulator();
  for (const n of ["a", "b", "c"]) arm.addUserAssignedIdentity(identityId(n));
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  await arm.stop();
});

describe("IMDS token endpoint", () => {
  test("refuses a request without `Metadata: true` with IMDS's 400 JSON", async () => {
    arm.addVmss(vmssId("meta"), { systemAssigned: true });
    const imds = await imdsFor(vmssId("meta"));
    for (const headers of [{}, { Metadata: "false" }] as Record<string, string>[]) {
      const res = await getJson(tokenUrl(imds, { resource: ARM_RESOURCE }), headers);
      expect(res).toEqual({
        status: 400,
        body: { error: "invalid_request", error_description: "Required metadata header not specified" },
      });
    }
  });

  test("requires api-version and resource", async () => {
    const imds = await imdsFor(vmssId("meta"));
    const noResource = await getJson(tokenUrl(imds, {}));
    expect(noResource.status).toBe(400);
    expect(noResource.body.error_description).toBe("Required audience parameter not specified");
    const noVersion = await getJson(`${imds.url}/metadata/identity/oauth2/token?resource=${ARM_RESOURCE}`);
    expect(noVersion.status).toBe(400);
    expect(noVersion.body.error).toBe("invalid_request");
  });

  test("defaults to the system-assigned identity and answers in IMDS's token shape", async () => {
    arm.addVmss(vmssId("sys"), { systemAssigned: true, userAssigned: [identityId("a")] });
    const view = arm.imdsView(vmssId("sys"));
    const imds = await imdsFor(vmssId("sys"));
    const { status, body } = await getJson(tokenUrl(imds, { resource: ARM_RESOURCE }));
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(
      [
        "access_token",
        "client_id",
        "expires_in",
        "expires_on",
        "ext_expires_in",
        "not_before",
        "resource",
        "token_type",
      ].sort(),
    );
    expect(typeof body.expires_in).toBe("string");
    expect(body.token_type).toBe("Bearer");
    expect(body.resource).toBe(ARM_RESOURCE);
    expect(body.client_id).toBe(view?.system?.clientId ?? "missing");
    const claims = await issuer.verify(body.access_token ?? "");
    expect(claims).toMatchObject({
      oid: view?.system?.principalId,
      aud: ARM_RESOURCE,
      tid: arm.tenantId,
      xms_mirid: vmssId("sys"),
    });
  });

  test("client_id, object_id, msi_res_id and mi_res_id select a user-assigned identity; others are not found", async () => {
    arm.addVmss(vmssId("multi"), { userAssigned: [identityId("a"), identityId("b")] });
    const imds = await imdsFor(vmssId("multi"));
    const b = arm.addUserAssignedIdentity(identityId("b"));
    const selectors: Record<string, string>[] = [
      { client_id: b.clientId },
      { object_id: b.principalId },
      { msi_res_id: identityId("b").toUpperCase() },
      { mi_res_id: identityId("b") },
    ];
    for (const params of selectors) {
      const { status, body } = await getJson(tokenUrl(imds, { resource: ARM_RESOURCE, ...params }));
      expect(status).toBe(200);
      expect(decodeClaims(body.access_token ?? "")).toMatchObject({
        appid: b.clientId,
        oid: b.principalId,
        xms_mirid: identityId("b"),
      });
    }
    const c = arm.addUserAssignedIdentity(identityId("c"));
    const notHere = await getJson(tokenUrl(imds, { resource: ARM_RESOURCE, client_id: c.clientId }));
    expect(notHere).toEqual({
      status: 400,
      body: { error: "invalid_request", error_description: "Identity not found" },
    });
    const ambiguous = await getJson(tokenUrl(imds, { resource: ARM_RESOURCE }));
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.error_description).toContain("Multiple user assigned identities exist");
  });

  test("an identity assigned through ARM stays 'Identity not found' during the propagation delay", async () => {
    arm.addVm(vmId("late"));
    const imds = await imdsFor(vmId("late"), { propagationDelayMs: 300 });
    const a = arm.addUserAssignedIdentity(identityId("a"));
    await assign(vmId("late"), [identityId("a")]);
    const early = await getJson(tokenUrl(imds, { resource: ARM_RESOURCE, client_id: a.clientId }));
    expect(early.body.error_description).toBe("Identity not found");
    await Bun.sleep(350);
    const later = await getJson(tokenUrl(imds, { resource: ARM_RESOURCE, client_id: a.clientId }));
    expect(later.status).toBe(200);
    expect(decodeClaims(later.body.access_token ?? "").appid).toBe(a.clientId);
  });

  test("more than 5 concurrent requests, or more than 20 per second, get 429", async () => {
    const slow = await imdsFor(vmssId("sys"), { limits: { processingMs: 200 } });
    const burst = await Promise.all(
      Array.from({ length: 7 }, () =>
        fetch(tokenUrl(slow, { resource: ARM_RESOURCE }), { headers: { Metadata: "true" } }),
      ),
    );
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);

    const rejected = burst.find((r) => r.status === 429);
    expect(await rejected?.json()).toMatchObject({ error: "too_many_requests" });
  });

  test("the limiter admits 20 requests in any one-second window (clock injected)", () => {
    const limiter = createRequestLimiter(20, 100);
    for (let i = 0; i < 20; i++) {
      const release = limiter.tryAcquire(i * 10);
      expect(release).toBeDefined();
      release?.();
    }
    expect(limiter.tryAcquire(500)).toBeUndefined();
    expect(limiter.tryAcquire(1000)).toBeDefined();
    const held = createRequestLimiter(20, 5);
    const releases = Array.from({ length: 5 }, () => held.tryAcquire(0));
    expect(held.tryAcquire(0)).toBeUndefined();
    releases[0]?.();
    expect(held.tryAcquire(0)).toBeDefined();
  });

  test("/metadata/instance describes the VM; unknown paths are 404", async () => {
    const imds = await imdsFor(vmssId("sys"));
    const { status, body } = await getJson(`${imds.url}/metadata/instance?api-version=2021-02-01`);
    expect(status).toBe(200);
    const compute = body.compute as unknown as Record<string, string>;
    expect(compute.vmScaleSetName).toBe("sys");
    expect(compute.subscriptionId).toBe(SUB);
    expect((await fetch(`${imds.url}/doesnotexist`, { headers: { Metadata: "true" } })).status).toBe(404);
  });
});

describe("@azure/identity ManagedIdentityCredential against the IMDS emulator", () => {
  test("gets a token naming the assigned identity, and a clean error for an unassigned one", async () => {
    arm.addVmss(vmssId("sdk"), { userAssigned: [identityId("a"), identityId("b")] });
    const imds = await imdsFor(vmssId("sdk"));
    const a = arm.addUserAssignedIdentity(identityId("a"));
    const c = arm.addUserAssignedIdentity(identityId("c"));
    const [byClient, byResource, unassigned] = await Promise.all([
      sdkGetToken(imds, { clientId: a.clientId }),
      sdkGetToken(imds, { resourceId: identityId("b") }),
      sdkGetToken(imds, { clientId: c.clientId }),
    ]);
    expect(decodeClaims(byClient.token ?? "")).toMatchObject({
      appid: a.clientId,
      oid: a.principalId,
      aud: "https://management.azure.com",
    });
    expect(decodeClaims(byResource.token ?? "")).toMatchObject({ xms_mirid: identityId("b") });
    expect(unassigned.token).toBeUndefined();
    expect(unassigned.message).toContain("Identity not found");
    // The SDK sends the trailing-slash path; the emulator saw those requests.
    expect(imds.requests().some((r) => r.query.client_id === a.clientId && r.status === 200)).toBe(true);
  });
});

describe("IMDS fault injection at runtime", () => {
  test("throttleNext answers the next token requests with IMDS's 429, then serves again; /metadata/instance is untouched", async () => {
    arm.addVm(vmId("throttled"), { systemAssigned: true });
    const imds = await imdsFor(vmId("throttled"));
    imds.throttleNext(2);
    const instance = await getJson(`${imds.url}/metadata/instance?api-version=2021-02-01`);
    expect(instance.status).toBe(200);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await getJson(tokenUrl(imds, { resource: ARM_RESOURCE })));
    expect(answers.map((a) => a.status)).toEqual([429, 429, 200]);
    expect(answers[0]?.body).toEqual({ error: "too_many_requests", error_description: "Too many requests" });
  });

  test("failNext gives 410 / 500 / 503 in IMDS's JSON error shape, in the order added; clearFaults drops the rest", async () => {
    arm.addVm(vmId("flaky"), { systemAssigned: true });
    const imds = await imdsFor(vmId("flaky"));
    imds.failNext(410);
    imds.failNext(500, 2);
    imds.failNext(503);
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const { status, body } = await getJson(tokenUrl(imds, { resource: ARM_RESOURCE }));
      statuses.push(status);
      expect(Object.keys(body).sort()).toEqual(["error", "error_description"]);
    }
    expect(statuses).toEqual([410, 500, 500, 503]);
    imds.failNext(500, 5);
    imds.clearFaults();
    expect((await getJson(tokenUrl(imds, { resource: ARM_RESOURCE }))).status).toBe(200);
    expect(() => imds.failNext(418 as 500)).toThrow("IMDS fault status must be one of");
  });

  test("setPropagationDelay hides identities assigned less than that long ago, from the next request on", async () => {
    arm.addVm(vmId("propagating"));
    const imds = await imdsFor(vmId("propagating"));
    const a = arm.addUserAssignedIdentity(identityId("a"));
    await assign(vmId("propagating"), [identityId("a")]);
    const query = { resource: ARM_RESOURCE, client_id: a.clientId };
    expect((await getJson(tokenUrl(imds, query))).status).toBe(200);
    imds.setPropagationDelay(60_000);
    expect(await getJson(tokenUrl(imds, query))).toEqual({
      status: 400,
      body: { error: "invalid_request", error_description: "Identity not found" },
    });
    imds.setPropagationDelay(0);
    expect((await getJson(tokenUrl(imds, query))).status).toBe(200);
  });

  test("@azure/identity does not retry IMDS's 429: getToken fails at once naming it; the next call succeeds", async () => {
    arm.addVm(vmId("sdk-throttled"), { systemAssigned: true });
    const imds = await imdsFor(vmId("sdk-throttled"));
    imds.throttleNext(1);
    const throttled = await sdkGetToken(imds, {});
    expect(throttled.token).toBeUndefined();
    expect(throttled.message).toContain("too_many_requests");
    const result = await sdkGetToken(imds, {});
    expect(decodeClaims(result.token ?? "").xms_mirid).toBe(vmId("sdk-throttled"));
    expect(imds.requests().map((r) => r.status)).toEqual([429, 200]);
  });
});

describe("standalone IMDS process", () => {
  test("prints READY <url>, reads ARM by URL and signs with the given key", async () => {
    arm.addVm(vmId("proc"), { systemAssigned: true });
    const dir = mkdtempSync(join(tmpdir(), "imds-"));
    const keyFile = join(dir, "key.pem");
    writeFileSync(keyFile, issuer.privateKeyPem);
    const proc = Bun.spawn(
      [
        process.execPath,
        "emulators/imds/main.ts",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--arm",
        arm.url,
        "--vm",
        vmId("proc"),
        "--signing-key-file",
        keyFile,
      ],
      { cwd: join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe" },
    );
    try {
      const reader = proc.stdout.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      const url = /^READY (\S+)/.exec(text)?.[1] ?? "";
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${ARM_RESOURCE}`, {
        headers: { Metadata: "true" },
      });
      const body = (await res.json()) as { access_token: string };
      const claims = await issuer.verify(body.access_token);
      expect(claims.oid).toBe(arm.imdsView(vmId("proc"))?.system?.principalId ?? "missing");
    } finally {
      proc.kill();
      await proc.exited;
    }
  });
});
