// A small HTTP/1.1 load generator: one keep-alive connection per simulated pod, each bound to its own
// loopback source address (node:net localAddress; Bun's fetch cannot choose one) so NMI tells the pods
// apart as it does by pod IP. Requests are hand-written GETs framed by http-framing.ts: cheap enough that
// the generator, not its HTTP stack, stays out of the way on a 2-core machine.
import net from "node:net";
import { frameResponse } from "./http-framing.ts";
import { type LatencySummary, summariseLatencies } from "./stats.ts";

export interface LoadTarget {
  host: string;
  port: number;
  /** Path and query of the GET. */
  path: string;
  headers?: Record<string, string>;
}

export class KeepAliveConnection {
  readonly #socket: net.Socket;
  readonly #request: Buffer;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: { resolve: (status: number) => void; reject: (error: Error) => void } | null = null;
  #failure: Error | null = null;

  private constructor(socket: net.Socket, target: LoadTarget) {
    this.#socket = socket;
    const headers = { Host: `${target.host}:${target.port}`, ...(target.headers ?? {}) };
    this.#request = Buffer.from(
      `GET ${target.path} HTTP/1.1\r\n${Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("")}\r\n`,
      "latin1",
    );
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", (error) => this.#fail(error));
    socket.on("close", () => this.#fail(new Error("connection closed")));
  }

  /** Connects from `localAddress` (a 127.0.0.0/8 address) to the target. */
  static open(target: LoadTarget, localAddress: string): Promise<KeepAliveConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port, localAddress });
      socket.setNoDelay(true);
      socket.once("connect", () => resolve(new KeepAliveConnection(socket, target)));
      socket.once("error", reject);
    });
  }

  /** Sends one request and resolves with the response status once the whole response arrived. */
  send(): Promise<number> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#pending) return Promise.reject(new Error("one request at a time per connection"));
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(this.#request);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let framed: ReturnType<typeof frameResponse>;
    try {
      framed = frameResponse(this.#buffer);
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (!framed) return;
    this.#buffer = this.#buffer.subarray(framed.length);
    const pending = this.#pending;
    this.#pending = null;
    pending?.resolve(framed.status);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(error);
  }
}

export interface LoadResult {
  /** Measured requests answered (any status). */
  completed: number;
  errors: number;
  statuses: Record<string, number>;
  elapsedMs: number;
  latency: LatencySummary;
}

function openAll(target: LoadTarget, sources: readonly string[]): Promise<KeepAliveConnection[]> {
  return Promise.all(sources.map((source) => KeepAliveConnection.open(target, source)));
}

/**
 * Closed loop: every source sends `warmup` unmeasured requests, then, all together, its share of
 * `totalRequests` back to back on its own connection.
 */
export async function runClosedLoop(
  target: LoadTarget,
  sources: readonly string[],
  totalRequests: number,
  warmup: number,
): Promise<LoadResult> {
  const connections = await openAll(target, sources);
  try {
    await Promise.all(
      connections.map(async (connection) => {
        for (let i = 0; i < warmup; i++) await connection.send();
      }),
    );
    const perClient = Math.max(1, Math.floor(totalRequests / connections.length));
    const samples: number[] = [];
    const statuses: Record<string, number> = {};
    let errors = 0;
    const started = performance.now();
    await Promise.all(
      connections.map(async (connection) => {
        for (let i = 0; i < perClient; i++) {
          const sent = performance.now();
          try {
            const status = await connection.send();
            samples.push(performance.now() - sent);
            statuses[status] = (statuses[status] ?? 0) + 1;
          } catch {
            errors += 1;
            return;
          }
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    return { completed: samples.length, errors, statuses, elapsedMs, latency: summariseLatencies(samples) };
  } finally {
    for (const connection of connections) connection.close();
  }
}

/** Burst: every source connects first, then all send one request at the same moment. */
export async function runBurst(target: LoadTarget, sources: readonly string[]): Promise<LoadResult> {
  const connections = await openAll(target, sources);
  try {
    const samples: number[] = [];
    const statuses: Record<string, number> = {};
    let errors = 0;
    const started = performance.now();
    await Promise.all(
      connections.map(async (connection) => {
        try {
          const status = await connection.send();
          samples.push(performance.now() - started);
          statuses[status] = (statuses[status] ?? 0) + 1;
        } catch {
          errors += 1;
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    return { completed: samples.length, errors, statuses, elapsedMs, latency: summariseLatencies(samples) };
  } finally {
    for (const connection of connections) connection.close();
  }
}
