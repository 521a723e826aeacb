import { afterAll, beforeAll, expect, test } from "bun:test";
import { createImdsProxy } from "../../src/roles/nmi/imds-proxy.ts";
import { NmiMetrics } from "../../src/roles/nmi/nmi-metrics.ts";
import { UpstreamBudget } from "../../src/roles/nmi/upstream-budget.ts";

const seen: { method: string; path: string; headers: Headers; body: string }[] = [];
let imds: ReturnType<typeof Bun.serve>;

beforeAll(() => {
  imds = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      seen.push({
        method: request.method,
        path: url.pathname + url.search,
        headers: request.headers,
        body: await request.text(),
      });
      return new Response("upstream says hi", { status: 418, headers: { "X-Imds": "yes" } });
    },
  });
});
afterAll(() => imds.stop(true));

test("method, path, query, headers and body are forwarded; status, headers and body come back", async () => {
  const proxy = createImdsProxy({ metadataIp: "127.0.0.1", metadataPort: imds.port! });
  const response = await proxy.forward(
    new Request("http://169.254.169.254/metadata/attested/document?api-version=2020-09-01&nonce=1", {
      method: "POST",
      headers: { Metadata: "true", Connection: "keep-alive", "X-Custom": "v" },
      body: "payload",
    }),
  );
  expect(response.status).toBe(418);
  expect(response.headers.get("x-imds")).toBe("yes");
  expect(await response.text()).toBe("upstream says hi");
  const forwarded = seen.at(-1)!;
  expect(forwarded).toMatchObject({
    method: "POST",
    path: "/metadata/attested/document?api-version=2020-09-01&nonce=1",
    body: "payload",
  });
  expect(forwarded.headers.get("metadata")).toBe("true");
  expect(forwarded.headers.get("x-custom")).toBe("v");
  // Host comes from the upstream address, not from the pod's request.
  expect(forwarded.headers.get("host")).toBe(`127.0.0.1:${imds.port}`);
});

test("proxied calls go through the node-wide budget and are reported to metrics", async () => {
  const metrics = new NmiMetrics();
  const budget = new UpstreamBudget({
    maxConcurrent: 1,
    maxPerSecond: 100,
    onGranted: (ms) => metrics.upstreamWaited(ms),
  });
  metrics.trackUpstreamQueue(() => budget.queueDepth);
  const hold = await budget.acquire("other-pod");
  const proxy = createImdsProxy({ metadataIp: "127.0.0.1", metadataPort: imds.port!, budget });
  const pending = proxy.forward(new Request("http://169.254.169.254/metadata/versions"), "pod");
  await Bun.sleep(20);
  expect(await metrics.registry.getSingleMetricAsString("aadpodidentity_nmi_upstream_queue_depth")).toContain(
    "aadpodidentity_nmi_upstream_queue_depth 1",
  );
  hold();
  expect((await pending).status).toBe(418);
  expect(await metrics.registry.getSingleMetricAsString("aadpodidentity_nmi_upstream_wait_seconds")).toContain(
    "aadpodidentity_nmi_upstream_wait_seconds_count 2",
  );
});

test("each caller queues apart in the budget: a busy pod does not push another pod's call to the back", async () => {
  const order: string[] = [];
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      order.push(new URL(request.url).searchParams.get("n") ?? "");
      return new Response("ok");
    },
  });
  try {
    const budget = new UpstreamBudget({ maxConcurrent: 1, maxPerSecond: 1000 });
    const proxy = createImdsProxy({ metadataIp: "127.0.0.1", metadataPort: upstream.port!, budget });
    const hold = await budget.acquire("someone");
    const call = (n: string, caller: string) =>
      proxy.forward(new Request(`http://169.254.169.254/metadata/versions?n=${n}`), caller);
    const pending = [call("a1", "10.0.0.1"), call("a2", "10.0.0.1"), call("a3", "10.0.0.1"), call("b1", "10.0.0.2")];
    await Bun.sleep(10);
    hold();
    await Promise.all(pending);
    // Round-robin between the two pods: b1 is served second, not after all of a's calls.
    expect(order).toEqual(["a1", "b1", "a2", "a3"]);
  } finally {
    upstream.stop(true);
  }
});

test("IMDS 429s on the proxy path are counted in upstream_throttled_total", async () => {
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response("Too many requests", { status: 429 }),
  });
  try {
    const metrics = new NmiMetrics();
    const proxy = createImdsProxy({
      metadataIp: "127.0.0.1",
      metadataPort: upstream.port!,
      budget: new UpstreamBudget({ maxConcurrent: 5, maxPerSecond: 20 }),
      // As run-nmi wires it.
      onThrottled: () => metrics.upstreamThrottled.inc({ upstream: "imds" }),
    });
    const response = await proxy.forward(new Request("http://169.254.169.254/metadata/instance"), "10.0.0.1");
    expect(response.status).toBe(429);
    expect(await metrics.registry.getSingleMetricAsString("aadpodidentity_nmi_upstream_throttled_total")).toContain(
      'aadpodidentity_nmi_upstream_throttled_total{upstream="imds"} 1',
    );
  } finally {
    upstream.stop(true);
  }
});
