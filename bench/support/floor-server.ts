// The floor for the token benchmark: a bare Bun server answering every request with one fixed IMDS-shaped
// token, in its own process like NMI. Prints its port on stdout.
const body = JSON.stringify({
  access_token: `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${"x".repeat(900)}.${"s".repeat(342)}`,
  client_id: "00000000-0000-0000-0000-000000000000",
  expires_in: "86399",
  expires_on: String(Math.floor(Date.now() / 1000) + 86_399),
  ext_expires_in: "86399",
  not_before: String(Math.floor(Date.now() / 1000)),
  resource: "https://management.azure.com/",
  token_type: "Bearer",
});
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () => new Response(body, { headers: { "Content-Type": "application/json; charset=utf-8" } }),
});
console.log(server.port);
