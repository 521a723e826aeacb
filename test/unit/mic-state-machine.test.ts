import { describe, expect, test } from "bun:test";
import {
  bindingAppliedMessage,
  canTransition,
  EventReason,
  isAssigned,
  statusPatch,
} from "../../src/roles/mic/state-machine.ts";

describe("AzureAssignedIdentity lifecycle", () => {
  test("Created → Assigned → Unassigned; a new record starts Created or Assigned, never Unassigned", () => {
    expect(canTransition(undefined, "Created")).toBe(true);
    expect(canTransition(undefined, "Unassigned")).toBe(false);
    expect(canTransition("Created", "Assigned")).toBe(true);
    expect(canTransition("Assigned", "Unassigned")).toBe(true);
    expect(canTransition("Unassigned", "Unassigned")).toBe(false);
  });

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
