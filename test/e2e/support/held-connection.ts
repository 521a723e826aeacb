// One TCP connection a pod keeps open to an address (HTTP/1.1 keep-alive), sending a request on it when
// told, so a test can show what happens to a flow that was opened BEFORE NMI installed its rules.
//   ip netns exec <pod> bun test/e2e/support/held-connection.ts <host> <port>
// prints `CONNECTED <local address>:<port>`, then for each stdin line `<path>` sends
// `GET <path> HTTP/1.1` on the same connection and prints one of
//   ANSWER <status>         a complete response arrived
//   ERROR <code>            the connection failed (ECONNRESET when reset)
//   CLOSED                  the peer closed the connection without answering
//   TIMEOUT                 nothing within 3 s
// Nothing else ever opens a second connection: a request the old flow cannot carry is not retried.
import { connect, type Socket } from "node:net";
import { resolve } from "node:path";
import { LineProcess } from "./line-process.ts";
import type { PodNetwork } from "./netns-topology.ts";

const ANSWER_TIMEOUT_MS = 3000;

export type HeldAnswer =
  | { kind: "answer"; status: number }
  | { kind: "error"; code: string }
  | { kind: "closed" }
  | { kind: "timeout" };

/** The test side: starts the script in the pod's namespace and sends requests on its one connection. */
export class HeldConnection {
  readonly process: LineProcess;
  #nextLine = 0;

  private constructor(process: LineProcess) {
    this.process = process;
  }

  static async open(pod: PodNetwork, host: string, port: number): Promise<HeldConnection> {
    const argv = [
      "ip",
      "netns",
      "exec",
      pod.netns,
      process.execPath,
      resolve(import.meta.dir, "held-connection.ts"),
      host,
      String(port),
    ];
    const held = new HeldConnection(
      new LineProcess(argv, { stdin: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp" } }),
    );
    const line = await held.process.waitFor(/^(CONNECTED|ERROR) /, 10_000);
    if (!line.startsWith("CONNECTED ")) throw new Error(`could not connect from ${pod.name}: ${line}`);
    held.#nextLine = held.process.lines.length;
    return held;
  }

  /** Sends `GET path` on the held connection and reports what came back. */
  async get(path: string): Promise<HeldAnswer> {
    const stdin = this.process.child.stdin;
    if (!stdin || typeof stdin === "number") throw new Error("held connection has no stdin");
    const from = this.#nextLine;
    stdin.write(`${path}\n`);
    stdin.flush();
    const line = await this.process.waitFor(/^(ANSWER|ERROR|CLOSED|TIMEOUT)\b/, ANSWER_TIMEOUT_MS + 5000, from);
    this.#nextLine = this.process.lines.indexOf(line, from) + 1;
    const [word, value = ""] = line.split(" ");
    if (word === "ANSWER") return { kind: "answer", status: Number(value) };
    if (word === "ERROR") return { kind: "error", code: value };
    return word === "CLOSED" ? { kind: "closed" } : { kind: "timeout" };
  }

  async close(): Promise<void> {
    const stdin = this.process.child.stdin;
    if (stdin && typeof stdin !== "number" && !this.process.exited) void stdin.end();
    await this.process.stop("SIGTERM", 2000);
  }
}

/** The pod side: one socket, one request at a time, answers parsed by Content-Length. */
async function main(): Promise<void> {
  const [host, port] = process.argv.slice(2);
  if (!host || !port) throw new Error("usage: held-connection.ts <host> <port>");
  const socket: Socket = connect({ host, port: Number(port) });
  let buffer = Buffer.alloc(0);
  let failure: string | null = null;
  let waiter: (() => void) | null = null;
  const wake = () => {
    const w = waiter;
    waiter = null;
    w?.();
  };
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    wake();
  });
  socket.on("error", (error: NodeJS.ErrnoException) => {
    failure = `ERROR ${error.code ?? error.message}`;
    wake();
  });
  socket.on("end", () => {
    failure ??= "CLOSED";
    wake();
  });
  socket.on("close", () => {
    failure ??= "CLOSED";
    wake();
  });
  await new Promise<void>((resolveConnect, reject) => {
    socket.once("connect", () => resolveConnect());
    socket.once("error", reject);
  }).catch((error: NodeJS.ErrnoException) => {
    console.log(`ERROR ${error.code ?? error.message}`);
    process.exit(1);
  });
  console.log(`CONNECTED ${socket.localAddress}:${socket.localPort}`);

  /** A complete response at the start of the buffer: its status, consumed; null while incomplete. */
  const takeResponse = (): number | null => {
    const end = buffer.indexOf("\r\n\r\n");
    if (end < 0) return null;
    const head = buffer.subarray(0, end).toString("latin1");
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? "0");
    if (buffer.length < end + 4 + length) return null;
    buffer = buffer.subarray(end + 4 + length);
    return Number(head.split(" ")[1] ?? "0");
  };

  const ask = async (path: string): Promise<string> => {
    if (failure) return failure;
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nMetadata: true\r\nConnection: keep-alive\r\n\r\n`);
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    for (;;) {
      const status = takeResponse();
      if (status !== null) return `ANSWER ${status}`;
      if (failure) return failure;
      const left = deadline - Date.now();
      if (left <= 0) return "TIMEOUT";
      await new Promise<void>((resolveWait) => {
        const timer = setTimeout(resolveWait, left);
        waiter = () => {
          clearTimeout(timer);
          resolveWait();
        };
      });
    }
  };

  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of Bun.stdin.stream()) {
    pending += decoder.decode(chunk, { stream: true });
    for (let i = pending.indexOf("\n"); i >= 0; i = pending.indexOf("\n")) {
      const path = pending.slice(0, i).trim();
      pending = pending.slice(i + 1);
      if (path) console.log(await ask(path));
    }
  }
  socket.destroy();
  process.exit(0);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.log(`ERROR ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
