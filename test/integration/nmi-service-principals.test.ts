// Service-principal identities (types 1 and 2) through the compiled NMI (managed mode: no MIC needed),
// against the Kubernetes and AAD emulators: NMI's token cache is the only one (with --token-cache=false
// every request reaches AAD, msal keeps nothing), Secrets are watched one by one, never cluster-wide,
// and a missing or unusable Secret is a 503 (as the original) counted as a get_secret API error.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeClaims } from "../../emulators/common/jwt.ts";
import type { ImdsEmulator } from "../../emulators/imds/index.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { API_VERSION } from "../../src/kube/crds.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { getFrom, type NmiProcess, startNmi, tokenPath } from "./nmi-harness.ts";

const RESOURCE = "https://vault.azure.net";
const TEAM = "team-sp";

let world: World;
let imds: ImdsEmulator;
let nmi: NmiProcess;
const clientIds: Record<string, string> = {};

const aadTokenRequests = (clientId: string) =>
  world.aad.requests().filter((r) => r.clientId === clientId && r.path.includes("/token")).length;

/** A service principal bound to selector `name`, its credential in Secret `<name>-secret` (unless `data` is null). */
function servicePrincipal(name: string, type: 1 | 2, data: Record<string, string> | null, ip: string) {
  const clientId = crypto.randomUUID();
  clientIds[name] = clientId;
  const secret = `sp-${crypto.randomUUID()}`;
  world.aad.addApp(world.tenantId, clientId, { secret });
  if (data !== null) {
    world.kube.create({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `${name}-secret`, namespace: TEAM },
      data: Object.fromEntries(
        Object.entries({ ...data }).map(([k, v]) => [k, Buffer.from(v === "<secret>" ? secret : v).toString("base64")]),
      ),
    });
  }
  world.kube.create({
    apiVersion: API_VERSION,
    kind: "AzureIdentity",
    metadata: { name, namespace: TEAM },
    spec: {
      type,
      tenantID: world.tenantId,
      clientID: clientId,
      clientPassword: { name: `${name}-secret`, namespace: TEAM },
      adEndpoint: `${world.aad.authorityHost}/`,
    },
  });
  world.createAzureIdentityBinding(`${name}-binding`, { azureIdentity: name, selector: name, namespace: TEAM });
  world.createPod(`${name}-pod`, { node: world.nodes[0]!.name, ip, namespace: TEAM, binding: name });
}

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({ identities: [] });
  const node = world.nodes[0]!;
  imds = await world.startImdsFor(node.name);
  world.kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: TEAM } });
  servicePrincipal("fresh", 1, { clientSecret: "<secret>" }, "127.0.0.41");
  servicePrincipal("nosecret", 1, null, "127.0.0.42");
  servicePrincipal("badcert", 2, { certificate: "not a PKCS#12 file", password: "pw" }, "127.0.0.43");
  // Secrets NMI must never hold: not referenced by any identity.
  world.kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "unrelated", namespace: TEAM },
    data: { password: Buffer.from("x").toString("base64") },
  });
  nmi = await startNmi(world, binary, {
    node: node.name,
    imdsUrl: imds.url,
    role: "managed",
    extraArgs: ["--token-cache=false"],
  });
  await nmi.waitForLog("informer caches synced");
}, 30_000);

afterAll(async () => {
  await nmi?.stop();
  await world?.stop();
});

describe("service principals through the compiled NMI", () => {
  test("with --token-cache=false every request gets a fresh token from AAD (msal caches nothing)", async () => {
    const before = aadTokenRequests(clientIds.fresh!);
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await getFrom("127.0.0.41", nmi.port, tokenPath(RESOURCE));
      expect(answer.status).toBe(200);
      tokens.push(String(answer.json().access_token));
    }
    expect(decodeClaims(tokens[0]!).appid).toBe(clientIds.fresh);
    expect(aadTokenRequests(clientIds.fresh!) - before).toBe(3);
  }, 20_000);

  test("a missing Secret is a 503 with IMDS-shaped JSON, counted as a get_secret error", async () => {
    const answer = await getFrom("127.0.0.42", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(503);
    expect(answer.json().error).toBe("service_unavailable");
    expect(String(answer.json().error_description)).toContain(`${TEAM}/nosecret-secret`);
    expect(aadTokenRequests(clientIds.nosecret!)).toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${nmi.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(
      /aadpodidentity_kubernetes_api_operations_errors_count\{operation_type="get_secret"\} [1-9]/,
    );
  }, 20_000);

  test("a certificate that cannot be parsed is a 503, and AAD is not asked", async () => {
    const answer = await getFrom("127.0.0.43", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(503);
    expect(answer.json().error).toBe("service_unavailable");
    expect(aadTokenRequests(clientIds.badcert!)).toBe(0);
  }, 20_000);

  test("NMI watched only the Secrets its identities reference, each by name, never all Secrets", () => {
    const secretPaths = world.kube
      .requests()
      .map((r) => decodeURIComponent(r.path))
      .filter((path) => path.includes("/secrets"));
    expect(secretPaths.length).toBeGreaterThan(0);
    expect(secretPaths.filter((path) => path.startsWith("/api/v1/secrets"))).toEqual([]);
    const named = new Set(
      secretPaths.map((path) =>
        /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^?]+)|\?.*fieldSelector=metadata\.name=([^&]+))/.exec(path),
      ),
    );
    const targets = [...named].map((m) => (m ? `${m[1]}/${m[2] ?? m[3]}` : "unscoped"));
    expect(new Set(targets)).toEqual(
      new Set([`${TEAM}/fresh-secret`, `${TEAM}/nosecret-secret`, `${TEAM}/badcert-secret`]),
    );
  });
});
