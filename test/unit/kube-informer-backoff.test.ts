// The informer's restart backoff, with its sleep and randomness injected: after failed lists or
// watches it waits 1 s, 2 s, 4 s, … capped at 30 s (±20 % jitter, never above the cap), and a watch
// that delivered events resets it to 1 s. A 410 Gone re-lists at once, without waiting.
import { describe, expect, test } from "bun:test";
import type { KubeClient } from "../../src/kube/client.ts";
import { KubeApiError } from "../../src/kube/errors.ts";
import { backoffDelay, Informer } from "../../src/kube/informer.ts";

type Step = "fail" | "gone" | { items: number } | { events: number } | "empty";

const pod = (name: string, rv: number) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", resourceVersion: String(rv) },
});

/** A client whose list (requestJson) and watch (request) calls answer from one script, in order. */
function scriptedClient(script: Step[]): { client: KubeClient; calls: string[] } {
  const calls: string[] = [];
  let rv = 10;
  const next = (what: "list" | "watch"): Step => {
    const step = script.shift();
    calls.push(`${what}:${typeof step === "string" ? step : JSON.stringify(step)}`);
    if (step === undefined) throw new Error("script exhausted");
    if (step === "fail") throw new KubeApiError(0, undefined, `${what}: connect ECONNREFUSED`);
    if (step === "gone") throw new KubeApiError(410, undefined, `${what}: too old resource version`);
    return step;
  };
  const client = {
    async requestJson() {
      const step = next("list");
      const count = typeof step === "object" && "items" in step ? step.items : 0;
      rv += 1;
      return {
        kind: "PodList",
        metadata: { resourceVersion: String(rv) },
        items: Array.from({ length: count }, (_, i) => pod(`p${i}`, rv)),
      };
    },
    async request() {
      const step = next("watch");
      const count = typeof step === "object" && "events" in step ? step.events : 0;
      const lines = Array.from({ length: count }, (_, i) => {
        rv += 1;
        return `${JSON.stringify({ type: "ADDED", object: pod(`w${rv}-${i}`, rv) })}\n`;
      });
      return new Response(lines.join(""));
    },
  } as unknown as KubeClient;
  return { client, calls };
}

/** Runs an informer until it has slept `sleeps` times; returns the requested delays and the calls. */
async function delaysFor(
  script: Step[],
  sleeps: number,
  opts: { random?: number; backoff?: { initialMs?: number; maxMs?: number } } = {},
): Promise<{ delays: number[]; calls: string[] }> {
  const { client, calls } = scriptedClient(script);
  const delays: number[] = [];
  const done = Promise.withResolvers<void>();
  const informer = new Informer({
    client,
    path: "/api/v1/pods",
    parse: (raw) => ({ ok: true, value: raw as { metadata: { name: string } } }),
    watchTimeoutSeconds: 60,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    timers: {
      random: () => opts.random ?? 0.5,
      sleep: (ms, signal) => {
        delays.push(ms);
        if (delays.length < sleeps) return Promise.resolve();
        // The last expected sleep: hold it until stop() aborts, as the real sleep does.
        done.resolve();
        return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
      },
    },
  }).start();
  await done.promise;
  await informer.stop();
  return { delays, calls };
}

describe("informer restart backoff", () => {
  test("consecutive list failures wait 1, 2, 4, 8, 16 s, then 30 s and stay there", async () => {
    const { delays } = await delaysFor(Array(8).fill("fail"), 8);
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  test("a watch that delivered events resets the backoff to 1 s", async () => {
    const { delays, calls } = await delaysFor(
      ["fail", "fail", "fail", { items: 2 }, { events: 3 }, "fail", "fail", "fail"],
      6,
    );
    // list×3 fail (1, 2, 4 s) → list ok → healthy watch (no wait) → watch fails: 1 s again, then 2, 4 s.
    expect(delays).toEqual([1000, 2000, 4000, 1000, 2000, 4000]);
    expect(calls.slice(3, 6)).toEqual(['list:{"items":2}', 'watch:{"events":3}', "watch:fail"]);
  });

  test("a watch that ends at once without events counts as a failure; 410 Gone re-lists without waiting", async () => {
    const { delays, calls } = await delaysFor([{ items: 0 }, "empty", "empty", "gone", { items: 1 }, "fail"], 3);
    expect(delays).toEqual([1000, 2000, 4000]);
    expect(calls).toEqual([
      'list:{"items":0}',
      "watch:empty",
      "watch:empty",
      "watch:gone",
      'list:{"items":1}',
      "watch:fail",
    ]);
  });

  test("jitter spreads each step by ±20 % but never beyond the 30 s cap", async () => {
    expect((await delaysFor(["fail", "fail"], 2, { random: 0 })).delays).toEqual([800, 1600]);
    expect((await delaysFor(["fail", "fail"], 2, { random: 0.999_999 })).delays.map(Math.round)).toEqual([1200, 2400]);
    expect(backoffDelay(30_000, 30_000, 0.999)).toBe(30_000);
    expect(backoffDelay(30_000, 30_000, 0)).toBe(24_000);
    expect(backoffDelay(16_000, 30_000, 0.999)).toBeLessThanOrEqual(19_200);
  });

  test("custom initial and maximum delays are honoured", async () => {
    const { delays } = await delaysFor(Array(5).fill("fail"), 5, { backoff: { initialMs: 100, maxMs: 500 } });
    expect(delays).toEqual([100, 200, 400, 500, 500]);
  });
});
