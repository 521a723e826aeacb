import { afterAll, expect, test } from "bun:test";
import { Readiness, startProbeServer } from "../../src/roles/nmi/probe-server.ts";

const readiness = new Readiness(["iptables", "caches", "server"]);
const probe = startProbeServer({ port: 0, hostname: "127.0.0.1", isActive: () => readiness.active });
afterAll(() => probe.stop());

test("/healthz is 503 'Not Active' until every condition holds, then 200 'Active'", async () => {
  const url = `http://127.0.0.1:${probe.port}/healthz`;
  readiness.set("iptables", true);
  readiness.set("caches", true);
  let response = await fetch(url);
  expect(response.status).toBe(503);
  expect(await response.text()).toBe("Not Active");
  expect(readiness.pending()).toEqual(["server"]);
  readiness.set("server", true);
  response = await fetch(url);
  expect(response.status).toBe(200);
  expect(await response.text()).toBe("Active");
  readiness.set("iptables", false);
  expect((await fetch(url)).status).toBe(503);
});

test("nothing but /healthz is served on the probe port (no pprof)", async () => {
  expect((await fetch(`http://127.0.0.1:${probe.port}/debug/pprof/`)).status).toBe(404);
});
