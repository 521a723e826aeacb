import { describe, expect, test } from "bun:test";
import { bindingAppliedMessage, EventReason, isAssigned, statusPatch } from "../../src/roles/mic/state-machine.ts";

describe("AzureAssignedIdentity lifecycle", () => {
  test("the legacy empty status counts as Assigned", () => {
    expect(isAssigned("")).toBe(true);
    expect(isAssigned("Assigned")).toBe(true);
    expect(isAssigned("Created")).toBe(false);
    expect(isAssigned("Unassigned")).toBe(false);
  });

  test("status is written with aad-pod-identity's JSON patch on /status/status", () => {
    expect(statusPatch("Assigned")).toEqual([{ op: "replace", path: "/status/status", value: "Assigned" }]);
  });

  test("event reasons and messages are aad-pod-identity's", () => {
    expect(EventReason).toEqual({
      BindingApplied: "binding applied",
      BindingApplyError: "binding apply error",
      StatusUpdateError: "status update error",
      BindingRemoved: "binding removed",
      BindingRemoveError: "binding remove error",
    });
    expect(bindingAppliedMessage("b", "node-1", "pod-ns-id")).toBe(
      "Binding b applied on node node-1 for pod pod-ns-id",
    );
  });
});
