import { describe, expect, test } from "bun:test";
import { type AbortSource, waitForCondition } from "../../src/roles/nmi/change-wait.ts";
import type { ChangeFeed } from "../../src/roles/nmi/ports.ts";
import { manualWaitClock } from "../support/manual-wait-clock.ts";

const quietFeed: ChangeFeed = { subscribe: () => () => {} };

describe("waitForCondition's abort source", () => {
  test("an answer already there is given without reading the signal at all", async () => {
    let read = 0;
    const source = {
      get signal() {
        read++;
        return new AbortController().signal;
      },
    };
    expect(await waitForCondition(quietFeed, () => ({ done: "now" }), source)).toBe("now");
    expect(read).toBe(0);
  });

  for (const [kind, makeSource] of [
    ["a signal", (c: AbortController): AbortSource => c.signal],
    ["an object holding one (a Request)", (c: AbortController): AbortSource => ({ signal: c.signal })],
    [
      "a function giving one",
      (c: AbortController): AbortSource =>
        () =>
          c.signal,
    ],
  ] as const) {
    test(`a wait ends as "aborted" when ${kind} fires`, async () => {
      const { clock } = manualWaitClock();
      const controller = new AbortController();
      const pending = waitForCondition(quietFeed, () => ({ waitUntilMs: 1_000_000 }), makeSource(controller), clock);
      controller.abort();
      expect(await pending).toBe("aborted");
    });
  }
});
