// The pure parts of MIC's wiring: probe answers, API reachability, ARM error mapping, object mapping.
import { describe, expect, test } from "bun:test";
import {
  ArmError,
  ArmIdentityError,
  ArmNotFoundError,
  ArmResourceDeletingError,
  ArmThrottledError,
} from "../../src/cloud/arm-errors.ts";
import { parseAzureConfigText, resolveCloudConfig } from "../../src/cloud/cloud-config.ts";
import { parseCommandLine } from "../../src/config/index.ts";
import { KubeApiError } from "../../src/kube/errors.ts";
import { parseNode, parsePod } from "../../src/kube/objects.ts";
import { ApiReachability, isConnectivityFailure } from "../../src/roles/mic/wiring/api-reachability.ts";
import { armFailureFromError, armIdentityStateOf, targetIdentitiesOf } from "../../src/roles/mic/wiring/arm-adapter.ts";
import { cloudEnvironment, micCloudSettings } from "../../src/roles/mic/wiring/cloud.ts";
import { healthAnswer } from "../../src/roles/mic/wiring/health.ts";
import { nodeInfoOf, podInfoOf } from "../../src/roles/mic/wiring/kube-mapping.ts";

describe("healthAnswer", () => {
  test("leader: 200 Active; standby or unknown: 200 Not Active; unreachable API server: 503 whatever the role", () => {
    expect(healthAnswer({ active: true, reachability: "reachable" })).toEqual({ status: 200, body: "Active" });
    expect(healthAnswer({ active: false, reachability: "reachable" })).toEqual({ status: 200, body: "Not Active" });
    expect(healthAnswer({ active: false, reachability: "unknown" })).toEqual({ status: 200, body: "Not Active" });
    expect(healthAnswer({ active: true, reachability: "unreachable" }).status).toBe(503);
    expect(healthAnswer({ active: false, reachability: "unreachable" }).status).toBe(503);
  });
});

describe("ApiReachability", () => {
  test("network errors and 5xx mean unreachable; any other HTTP answer means reachable; the latest outcome wins", () => {
    expect(isConnectivityFailure(new KubeApiError(0, undefined, "ECONNREFUSED"))).toBe(true);
    expect(isConnectivityFailure(new KubeApiError(503, undefined, "unavailable"))).toBe(true);
    expect(isConnectivityFailure(new KubeApiError(409, undefined, "conflict"))).toBe(false);
    expect(isConnectivityFailure(new Error("boom"))).toBe(true);
    const reach = new ApiReachability();
    expect(reach.state()).toBe("unknown");
    reach.failed();
    expect(reach.state()).toBe("unreachable");
    reach.succeeded();
    expect(reach.state()).toBe("reachable");
  });
});

describe("armFailureFromError", () => {
  test("maps each typed ARM error onto the controller's failure kind", () => {
    expect(armFailureFromError(new ArmThrottledError("slow down", { retryAfterMs: 7000 }))).toMatchObject({
      kind: "throttled",
      retryAfterMs: 7000,
    });
    const id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x";
    expect(
      armFailureFromError(new ArmIdentityError("denied", { code: "LinkedAuthorizationFailed", identityIds: [id] })),
    ).toEqual({ kind: "identity", code: "LinkedAuthorizationFailed", identityIds: [id], message: "denied" });
    expect(armFailureFromError(new ArmNotFoundError("gone")).kind).toBe("notFound");
    expect(armFailureFromError(new ArmResourceDeletingError("deleting")).kind).toBe("deleting");
    expect(armFailureFromError(new ArmError("oops", { statusCode: 500, code: "Http500" }))).toEqual({
      kind: "other",
      statusCode: 500,
      message: "oops",
    });
    expect(armFailureFromError("weird")).toEqual({ kind: "other", message: "weird" });
  });
});

describe("object mapping", () => {
  test("a pod maps to PodInfo with node, phase, labels and creation time; empty strings become absent", () => {
    const pod = parsePod({
      metadata: {
        name: "p",
        namespace: "ns",
        uid: "u1",
        labels: { aadpodidbinding: "sel" },
        creationTimestamp: "2026-01-01T00:00:00Z",
      },
      spec: { nodeName: "node-1" },
      status: { phase: "Running" },
    });
    if (!pod.ok) throw new Error("fixture must parse");
    expect(podInfoOf(pod.value)).toEqual({
      namespace: "ns",
      name: "p",
      uid: "u1",
      nodeName: "node-1",
      phase: "Running",
      labels: { aadpodidbinding: "sel" },
      creationTimestamp: "2026-01-01T00:00:00Z",
    });
    const pending = parsePod({ metadata: { name: "q", namespace: "ns" } });
    if (!pending.ok) throw new Error("fixture must parse");
    expect(podInfoOf(pending.value)).toMatchObject({ nodeName: undefined, phase: undefined, labels: undefined });
    const node = parseNode({ metadata: { name: "n" }, spec: { providerID: "azure:///x" } });
    if (!node.ok) throw new Error("fixture must parse");
    expect(nodeInfoOf(node.value)).toEqual({ name: "n", providerId: "azure:///x" });
  });

  test("the cloud config's cluster identity joins --immutable-user-msis and its scope is the fallback scope", () => {
    const config = resolveCloudConfig(
      parseAzureConfigText(
        JSON.stringify({
          cloud: "AzurePublicCloud",
          tenantId: "t",
          aadClientId: "a",
          aadClientSecret: "s",
          subscriptionId: "sub",
          resourceGroup: "rg",
          userAssignedIdentityID: "cluster-client-id",
        }),
      ),
      "file",
    );
    expect(micCloudSettings(["imm-1"], config)).toEqual({
      immutableClientIds: ["imm-1", "cluster-client-id"],
      fallbackScope: { subscriptionId: "sub", resourceGroup: "rg" },
    });
    expect(micCloudSettings([], { ...config, userAssignedIdentityID: "", resourceGroup: "" })).toEqual({
      immutableClientIds: [],
      fallbackScope: undefined,
    });
  });

  test("ARM's identity block and the port's view of it convert both ways, keeping the identity type", () => {
    const id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x";
    const view = targetIdentitiesOf({
      type: "SystemAssigned, UserAssigned",
      principalId: "p",
      userAssignedIdentities: { [id]: { clientId: "c", principalId: "q" } },
      provisioningState: "Succeeded",
    });
    expect(view).toEqual({
      userAssignedIdentities: [id],
      type: "SystemAssigned, UserAssigned",
      provisioningState: "Succeeded",
    });
    expect(armIdentityStateOf(view)).toEqual({
      type: "SystemAssigned, UserAssigned",
      userAssignedIdentities: { [id]: {} },
      provisioningState: "Succeeded",
    });
  });

  test("the parsed cloud environment turns back into the admin-secret variables the cloud layer reads", () => {
    expect(
      cloudEnvironment({ cloud: "AzureStackCloud", clientId: "c", useMsi: true, azureEnvironmentFilepath: "/e.json" }),
    ).toMatchObject({
      CLOUD: "AzureStackCloud",
      CLIENT_ID: "c",
      USE_MSI: "true",
      AZURE_ENVIRONMENT_FILEPATH: "/e.json",
    });
  });
});

describe("MIC's namespaced mode and namespace from the command line and env", () => {
  const micConfig = (argv: string[], env: Record<string, string | undefined>) => {
    const outcome = parseCommandLine(["--role", "mic", ...argv], env, { hostname: "h" });
    if (!outcome.ok || outcome.command.kind !== "run" || outcome.command.config.role !== "mic") return undefined;
    return outcome.command.config;
  };
  test("--forceNamespaced or FORCENAMESPACED=true (exactly, as the original) turns namespaced matching on", () => {
    const base = { MIC_POD_NAMESPACE: "kube-system" };
    expect(micConfig([], base)?.forceNamespaced).toBe(false);
    expect(micConfig(["--forceNamespaced"], base)?.forceNamespaced).toBe(true);
    expect(micConfig([], { ...base, FORCENAMESPACED: "true" })?.forceNamespaced).toBe(true);
    expect(micConfig([], { ...base, FORCENAMESPACED: "True" })?.forceNamespaced).toBe(false);
  });
  test("MIC_POD_NAMESPACE is required to run", () => {
    expect(micConfig([], {})).toBeUndefined();
    expect(micConfig([], { MIC_POD_NAMESPACE: "kube-system" })).toBeDefined();
  });
});
