import { describe, expect, test } from "bun:test";
import {
  aggregationKey,
  decideEventWrite,
  type EventSpec,
  eventName,
  eventNamespace,
  formatTime,
} from "../../src/kube/event-aggregation.ts";

const spec = (over: Partial<EventSpec> = {}): EventSpec => ({
  involvedObject: { kind: "AzureIdentityBinding", name: "b1", namespace: "ns", uid: "u1" },
  type: "Normal",
  reason: "binding applied",
  message: "Binding b1 applied on node n1 for pod p1",
  ...over,
});

describe("event aggregation", () => {
  test("the key separates component, host, object, type, reason and message", () => {
    const base = aggregationKey("c", "h", spec());
    expect(aggregationKey("c", "h", spec())).toBe(base);
    for (const other of [
      aggregationKey("c2", "h", spec()),
      aggregationKey("c", "h2", spec()),
      aggregationKey("c", "h", spec({ type: "Warning" })),
      aggregationKey("c", "h", spec({ reason: "binding apply error" })),
      aggregationKey("c", "h", spec({ message: "other" })),
      aggregationKey("c", "h", spec({ involvedObject: { kind: "AzureIdentityBinding", name: "b2", namespace: "ns" } })),
    ]) {
      expect(other).not.toBe(base);
    }
  });

  test("the first occurrence creates an Event named <object>.<hex nanoseconds> with count 1", () => {
    const now = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    const write = decideEventWrite(undefined, spec(), now, 600_000, 0);
    expect(write).toEqual({
      write: "create",
      name: `b1.${(BigInt(now) * 1_000_000n).toString(16)}`,
      namespace: "ns",
      count: 1,
      firstTimestamp: "2026-01-02T03:04:05Z",
      lastTimestamp: "2026-01-02T03:04:05Z",
    });
  });

  test("a repeat within the window patches the same Event with count + 1 and a new lastTimestamp", () => {
    const seen = {
      name: "b1.abc",
      namespace: "ns",
      count: 4,
      firstTimestamp: "2026-01-01T00:00:00Z",
      lastSeenAt: 1_000,
    };
    const write = decideEventWrite(seen, spec(), 1_000 + 600_000, 600_000, 9);
    expect(write).toEqual({
      write: "patch",
      name: "b1.abc",
      namespace: "ns",
      count: 5,
      firstTimestamp: "2026-01-01T00:00:00Z",
      lastTimestamp: formatTime(601_000),
    });
  });

  test("a repeat after the window starts a new Event", () => {
    const seen = { name: "b1.abc", namespace: "ns", count: 4, firstTimestamp: "x", lastSeenAt: 0 };
    expect(decideEventWrite(seen, spec(), 600_001, 600_000, 1).write).toBe("create");
  });

  test("cluster-scoped objects' events go to the default namespace; names from the same ms differ", () => {
    expect(eventNamespace({ kind: "Node", name: "n1" })).toBe("default");
    expect(eventName({ kind: "Node", name: "n1" }, 5, 0)).not.toBe(eventName({ kind: "Node", name: "n1" }, 5, 1));
  });
});
