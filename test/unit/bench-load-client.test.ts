// The bench's load generator against a local server: each connection speaks from its own loopback
// address, and a connection is reused for its requests (keep-alive).
import { afterAll, describe, expect, test } from "bun:test";
import { KeepAliveConnection, runBurst, runClosedLoop } from "../../bench/support/load-client.ts";

const seen: { address: string; port: number }[] = [];
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request, bun) {
    const remote = bun.requestIP(request);
    seen.push({ address: remote?.address ?? "", port: remote?.port ?? 0 });
    return new URL(request.url).pathname === "/missing" ? new Response("no", { status: 404 }) : new Response("ok");
  },
});
const target = { host: "127.0.0.1", port: server.port ?? 0, path: "/token" };
afterAll(() => server.stop(true));

describe("bench load client", () => {
  test("requests come from the connection's source address over one connection", async () => {
    seen.length = 0;
    const connection = await KeepAliveConnection.open(target, "127.10.0.7");
    expect(await connection.send()).toBe(200);
    expect(await connection.send()).toBe(200);
    connection.close();
    expect(seen.map((s) => s.address)).toEqual(["127.10.0.7", "127.10.0.7"]);
    expect(seen[0]?.port).toBe(seen[1]?.port ?? -1);
  });

  test("a closed loop spreads the requests over the sources and counts statuses", async () => {
    seen.length = 0;
    const result = await runClosedLoop({ ...target, path: "/missing" }, ["127.10.0.1", "127.10.0.2"], 10, 1);
    expect(result.completed).toBe(10);
    expect(result.statuses).toEqual({ "404": 10 });
    expect(new Set(seen.map((s) => s.address))).toEqual(new Set(["127.10.0.1", "127.10.0.2"]));
    expect(seen.length).toBe(12);
  });

  test("a burst sends one request per source", async () => {
    seen.length = 0;
    const sources = Array.from({ length: 20 }, (_, i) => `127.10.1.${i + 1}`);
    const result = await runBurst(target, sources);
    expect(result.completed).toBe(20);
    expect(new Set(seen.map((s) => s.address)).size).toBe(20);
  });
});
