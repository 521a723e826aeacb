// A loopback TCP port nothing listens on right now, for child processes whose flags refuse port 0.
// Racy by nature (another process may take it before the child binds). Ports come from below the
// kernel's ephemeral range (ip_local_port_range, 32768-60999 by default): a port the kernel handed out
// with listen(0) is also one it may hand to the next outgoing connection, and under a busy test run one
// did, before the child could bind it ("port in use").
import { createServer } from "node:net";

const LOW = 20_000;
const HIGH = 32_000;
const ATTEMPTS = 20;

function tryListen(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (bound > 0 ? resolve(bound) : reject(new Error("no free port"))));
    });
  });
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const candidate = LOW + Math.floor(Math.random() * (HIGH - LOW));
    try {
      return await tryListen(candidate, host);
    } catch {
      // taken: try another
    }
  }
  return tryListen(0, host);
}
