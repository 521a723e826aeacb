import { describe, expect, test } from "bun:test";
import { checkKubenet, KUBENET_REFUSAL, kubenetVerdict } from "../../src/roles/nmi/kubenet.ts";

describe("kubenet", () => {
  const options = { allowNetworkPluginKubenet: false, kubeletConfigPath: "/etc/default/kubelet" };

  test("a kubelet config using kubenet is refused with the original's message", () => {
    expect(kubenetVerdict("KUBELET_FLAGS=--network-plugin=kubenet --x", options)).toEqual({
      ok: false,
      message: KUBENET_REFUSAL,
    });
  });

  test("other network plugins pass", () => {
    expect(kubenetVerdict("KUBELET_FLAGS=--network-plugin=cni", options)).toEqual({ ok: true });
  });

  test("an unreadable config is refused unless kubenet is allowed", async () => {
    const failing = async () => {
      throw new Error("ENOENT");
    };
    expect((await checkKubenet(options, failing)).ok).toBe(false);
    expect(await checkKubenet({ ...options, allowNetworkPluginKubenet: true }, failing)).toEqual({ ok: true });
  });

  test("the allow flag skips the check even on kubenet", () => {
    expect(kubenetVerdict("--network-plugin=kubenet", { ...options, allowNetworkPluginKubenet: true }).ok).toBe(true);
  });
});
