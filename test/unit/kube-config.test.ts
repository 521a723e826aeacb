import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiException } from "@kubernetes/client-node";
import { loadKubeConfig } from "../../src/kube/client.ts";
import { isAlreadyExists, isConflict, isNotFound, KubeApiError, toKubeApiError } from "../../src/kube/errors.ts";
import { RotatingTokenFileAuth } from "../../src/kube/in-cluster.ts";

const dir = mkdtempSync(join(tmpdir(), "kube-config-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(file: string, server: string, context = "ctx"): string {
  const path = join(dir, file);
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      `current-context: ${context}`,
      "clusters:",
      `- name: ${context}-cluster`,
      "  cluster:",
      `    server: ${server}`,
      "    insecure-skip-tls-verify: true",
      "users:",
      `- name: ${context}-user`,
      "  user:",
      "    token: abc",
      "contexts:",
      `- name: ${context}`,
      "  context:",
      `    cluster: ${context}-cluster`,
      `    user: ${context}-user`,
      "",
    ].join("\n"),
  );
  return path;
}

function serviceAccountDir(token: string): string {
  const sa = mkdtempSync(join(dir, "sa-"));
  writeFileSync(join(sa, "token"), token);
  writeFileSync(join(sa, "ca.crt"), "not used here");
  writeFileSync(join(sa, "namespace"), "kube-system\n");
  return sa;
}

describe("loadKubeConfig", () => {
  test("--kubeconfig wins over KUBECONFIG", () => {
    const flag = kubeconfig("flag.yaml", "http://127.0.0.1:1111");
    const env = kubeconfig("env.yaml", "http://127.0.0.1:2222");
    const kc = loadKubeConfig({ kubeconfigPath: flag, env: { KUBECONFIG: env } });
    expect(kc.getCurrentCluster()?.server).toBe("http://127.0.0.1:1111");
  });

  test("KUBECONFIG is used when no flag is given; a path list is merged with the first file's context", () => {
    const a = kubeconfig("a.yaml", "http://127.0.0.1:3333", "a");
    const b = kubeconfig("b.yaml", "http://127.0.0.1:4444", "b");
    const kc = loadKubeConfig({ env: { KUBECONFIG: `${a}:${b}` } });
    expect(kc.getCurrentCluster()?.server).toBe("http://127.0.0.1:3333");
    expect(
      kc
        .getContexts()
        .map((c) => c.name)
        .sort(),
    ).toEqual(["a", "b"]);
  });

  test("in-cluster: needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT", () => {
    const sa = serviceAccountDir("tok");
    expect(() => loadKubeConfig({ env: {}, serviceAccountDir: sa })).toThrow(/KUBERNETES_SERVICE_HOST/);
    expect(() => loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: "10.0.0.1" }, serviceAccountDir: sa })).toThrow(
      /KUBERNETES_SERVICE_PORT/,
    );
  });

  test("in-cluster: https to the service address (IPv6 bracketed), the SA CA, namespace and token", async () => {
    const sa = serviceAccountDir("token-1\n");
    const kc = loadKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" },
      serviceAccountDir: sa,
    });
    expect(kc.getCurrentCluster()?.server).toBe("https://10.0.0.1:443");
    expect(kc.getCurrentCluster()?.caFile).toBe(join(sa, "ca.crt"));
    expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe("kube-system");
    const v6 = loadKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" },
      serviceAccountDir: sa,
    });
    expect(v6.getCurrentCluster()?.server).toBe("https://[fd00::1]:443");
    const opts: { headers?: Record<string, unknown> } = {};
    await kc.applyToHTTPSOptions(opts as never);
    expect(opts.headers?.Authorization).toBe("Bearer token-1");
  });

  test("in-cluster: a missing token file fails at load time", () => {
    const empty = mkdtempSync(join(dir, "empty-"));
    expect(() =>
      loadKubeConfig({
        env: { KUBERNETES_SERVICE_HOST: "h", KUBERNETES_SERVICE_PORT: "443" },
        serviceAccountDir: empty,
      }),
    ).toThrow();
  });
});

describe("RotatingTokenFileAuth", () => {
  test("re-reads the token as soon as the kubelet swaps the file", () => {
    const sa = serviceAccountDir("old-token");
    const path = join(sa, "token");
    const auth = new RotatingTokenFileAuth();
    expect(auth.token(path)).toBe("old-token");
    // The kubelet replaces projected files atomically (rename), giving a new inode.
    writeFileSync(join(sa, "token.new"), "new-token");
    renameSync(join(sa, "token.new"), path);
    expect(auth.token(path)).toBe("new-token");
  });
});

describe("KubeApiError", () => {
  test("client-node's ApiException with a string Status body becomes code + parsed Status", () => {
    const status = {
      kind: "Status",
      status: "Failure",
      reason: "AlreadyExists",
      code: 409,
      message: 'leases "x" already exists',
    };
    const err = toKubeApiError(new ApiException(409, "Conflict", JSON.stringify(status), {}), "create lease");
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err.code).toBe(409);
    expect(err.reason).toBe("AlreadyExists");
    expect(err.status?.message).toBe('leases "x" already exists');
    expect(err.message).toContain("create lease: HTTP 409");
    expect(isConflict(err)).toBe(true);
    expect(isAlreadyExists(err)).toBe(true);
    expect(isNotFound(err)).toBe(false);
  });

  test("a non-JSON body keeps the code; network errors get code 0", () => {
    const err = toKubeApiError(new ApiException(502, "Bad Gateway", "<html>oops</html>", {}));
    expect(err.code).toBe(502);
    expect(err.status).toBeUndefined();
    expect(err.message).toContain("oops");
    const net = toKubeApiError(new TypeError("fetch failed"), "get pod");
    expect(net.code).toBe(0);
    expect(net.message).toBe("get pod: fetch failed");
    expect(toKubeApiError(net)).toBe(net);
  });
});
