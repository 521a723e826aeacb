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
  const proxy = createImdsProxy({ metadataIp: "127.0.0.1", metadataPort: imds.port!, budget, callerKey: () => "pod" });
  const pending = proxy.forward(new Request("http://169.254.169.254/metadata/versions"));
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
