// NMI's Secret reads for service-principal identities against the Kubernetes API emulator: one small
// informer per referenced Secret (its namespace, field selector metadata.name=<name>), never a list of
// every Secret of the cluster; reads come from the informer, not a GET per request; watches stop once
// no identity references their Secret or they went unused, and cached tokens made from it are dropped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type KubeEmulator, startKubeEmulator } from "../../emulators/kube/index.ts";
import { createKubeClient, type KubeClient, loadKubeConfig } from "../../src/kube/client.ts";
import { SecretReader } from "../../src/roles/nmi/wiring/secrets.ts";
import { until } from "../support/until.ts";

const tmp = mkdtempSync(join(tmpdir(), "nmi-secrets-"));
let kube: KubeEmulator;
let client: KubeClient;
const readers: SecretReader[] = [];

beforeAll(async () => {
  kube = await startKubeEmulator();
  const path = join(tmp, "kubeconfig");
  writeFileSync(path, kube.kubeconfigYaml);
  client = createKubeClient(loadKubeConfig({ kubeconfigPath: path, env: {} }), { userAgent: "nmi-secrets-test" });
  for (const namespace of ["team", "other"]) {
    kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  }
  secret("team", "sp-secret", { clientSecret: "one" });
  secret("team", "unrelated", { password: "not NMI's business" });
  secret("other", "sp-secret", { clientSecret: "other namespace" });
});

afterAll(async () => {
  await Promise.all(readers.map((reader) => reader.stop()));
  await kube.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function secret(namespace: string, name: string, data: Record<string, string>) {
  const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
  const existing = kube.get("v1", "Secret", namespace, name);
  if (existing) return kube.update({ ...existing, data: encoded });
  return kube.create({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, data: encoded });
}

function reader(options: Partial<ConstructorParameters<typeof SecretReader>[0]> = {}) {
  const changes: string[] = [];
  const readErrors: string[] = [];
  const secrets = new SecretReader({
    client,
    onChange: (namespace, name) => changes.push(`${namespace}/${name}`),
    onReadError: (namespace, name) => readErrors.push(`${namespace}/${name}`),
    ...options,
  });
  readers.push(secrets);
  return { secrets, changes, readErrors };
}

const secretRequests = (from: number) =>
  kube
    .requests()
    .slice(from)
    .filter((r) => r.path.includes("/secrets"));
const decode = (value: string | undefined) => Buffer.from(value ?? "", "base64").toString("utf8");

describe("SecretReader", () => {
  test("a read lists and watches that one Secret only (namespace + metadata.name), then serves from memory", async () => {
    const from = kube.requests().length;
    const { secrets } = reader();
    const data = await secrets.read("team", "sp-secret");
    expect(decode(data.clientSecret)).toBe("one");
    expect(secrets.watched).toEqual(["team/sp-secret"]);
    await until("the watch", () => secretRequests(from).some((r) => r.path.includes("watch=")));
    const paths = secretRequests(from).map((r) => decodeURIComponent(r.path));
    expect(paths.length).toBeGreaterThanOrEqual(2);
    for (const path of paths) {
      expect(path).toStartWith("/api/v1/namespaces/team/secrets?");
      expect(path).toContain("fieldSelector=metadata.name=sp-secret");
    }
    // No cluster-wide list or watch, and no GET per request.
    expect(kube.requests().some((r) => r.path.startsWith("/api/v1/secrets"))).toBe(false);
    const before = kube.requests().length;
    for (let i = 0; i < 5; i++) await secrets.read("team", "sp-secret");
    expect(secretRequests(before)).toEqual([]);
  });

  test("the emulator's field selector keeps other Secrets of the namespace out of NMI's watch", async () => {
    const { secrets, changes } = reader();
    await secrets.read("team", "sp-secret");
    await until("the watch", () =>
      kube.requests().some((r) => r.path.includes("watch=") && r.path.includes("sp-secret")),
    );
    secret("team", "unrelated", { password: "changed" });
    secret("other", "sp-secret", { clientSecret: "changed elsewhere" });
    await Bun.sleep(200);
    expect(changes).toEqual([]);
    secret("team", "sp-secret", { clientSecret: "rotated" });
    await until("the change of the watched Secret", () => changes.includes("team/sp-secret"));
    expect(decode((await secrets.read("team", "sp-secret")).clientSecret)).toBe("rotated");
  });

  test("a missing Secret is an error, reported for the get_secret metric", async () => {
    const { secrets, readErrors } = reader();
    await expect(secrets.read("team", "nope")).rejects.toThrow("secret team/nope not found");
    expect(readErrors).toEqual(["team/nope"]);
  });

  test("once no identity references the Secret its watch stops, and tokens made from it go", async () => {
    let referenced = new Set(["team/sp-secret"]);
    const { secrets, changes } = reader({ referenced: () => referenced });
    await secrets.read("team", "sp-secret");
    await secrets.sweep();
    expect(secrets.watched).toEqual(["team/sp-secret"]);
    expect(changes).toEqual([]);
    referenced = new Set();
    await secrets.sweep();
    expect(secrets.watched).toEqual([]);
    expect(changes).toEqual(["team/sp-secret"]);
  });

  test("a watch unused for the idle time stops; the next read starts a new one", async () => {
    let now = 1_000_000;
    const { secrets } = reader({ idleMs: 60_000, now: () => now, referenced: () => new Set(["team/sp-secret"]) });
    await secrets.read("team", "sp-secret");
    now += 59_000;
    await secrets.sweep();
    expect(secrets.watched).toEqual(["team/sp-secret"]);
    now += 1_000;
    await secrets.sweep();
    expect(secrets.watched).toEqual([]);
    expect(decode((await secrets.read("team", "sp-secret")).clientSecret)).toBe("rotated");
    expect(secrets.watched).toEqual(["team/sp-secret"]);
  });

  test("while a new watch's first list is slow, the one Secret is read with a direct GET", async () => {
    const { secrets } = reader({ syncWaitMs: 200 });
    const from = kube.requests().length;
    kube.setLatency(600);
    try {
      const data = await secrets.read("other", "sp-secret");
      expect(decode(data.clientSecret)).toBe("changed elsewhere");
    } finally {
      kube.setLatency(0);
    }
    const gets = secretRequests(from).filter((r) => r.path === "/api/v1/namespaces/other/secrets/sp-secret");
    expect(gets).toHaveLength(1);
  });
});
