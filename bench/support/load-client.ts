// A small HTTP/1.1 load generator: one keep-alive connection per simulated pod, each bound to its own
// loopback source address so NMI tells the pods apart as it does by pod IP. Bun.connect with
// `localAddress` (the option Bun's own node:net passes down; the tests check the server sees it), hand-
// written GETs, and framing that reads bytes in place (http-framing.ts): the generator shares a 2-core
// machine with the server it measures, so what it spends per response (node:net's stream layer cost
// more than the bare server did) would show up as the server's latency.
import type { Socket } from "bun";
import { frameResponse } from "./http-framing.ts";
import { type LatencySummary, summariseLatencies } from "./stats.ts";

export interface LoadTarget {
  host: string;
  port: number;
  /** Path and query of the GET. */
  path: string;
  headers?: Record<string, string>;
}

/** Called once per answered request: its status and how long it took from write to last byte. */
export type OnAnswer = (status: number, latencyMs: number) => void;

interface Pending {
  sentAt: number;
  onAnswer: OnAnswer;
  onFailure: (error: Error) => void;
}

export class KeepAliveConnection {
  readonly #request: Uint8Array;
  #socket: Socket<undefined> | null = null;
  /** Bytes of a response that arrived in pieces; empty while responses arrive whole. */
  #partial: Uint8Array = new Uint8Array(0);
  #pending: Pending | null = null;
  #failure: Error | null = null;

  private constructor(target: LoadTarget) {
    const headers = { Host: `${target.host}:${target.port}`, ...(target.headers ?? {}) };
    this.#request = Buffer.from(
      `GET ${target.path} HTTP/1.1\r\n${Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("")}\r\n`,
      "latin1",
    );
  }

  /** Connects from `localAddress` (a 127.0.0.0/8 address) to the target. */
  static async open(target: LoadTarget, localAddress: string): Promise<KeepAliveConnection> {
    const connection = new KeepAliveConnection(target);
    connection.#socket = await Bun.connect({
      hostname: target.host,
      port: target.port,
      // Not in Bun's typings, but honoured: it is how node:net's localAddress reaches the socket.
      ...({ localAddress } as object),
      socket: {
        data: (_socket, chunk) => connection.#onData(chunk),
        error: (_socket, error) => connection.#fail(error),
        close: () => connection.#fail(new Error("connection closed")),
        connectError: (_socket, error) => connection.#fail(error),
      },
    });
    connection.#socket.setNoDelay(true);
    return connection;
  }

  /** Sends one request; resolves with the response status once the whole response arrived. */
  send(): Promise<number> {
    return new Promise((resolve, reject) => this.#send((status) => resolve(status), reject));
  }

  /**
   * Sends `count` requests back to back (the next as soon as the previous is answered), reporting each
   * through `onAnswer`; resolves when all are answered. Callbacks rather than a promise per request.
   */
  sendRepeatedly(count: number, onAnswer: OnAnswer): Promise<void> {
    return new Promise((resolve, reject) => {
      let left = count;
      if (left <= 0) {
        resolve();
        return;
      }
      const next: OnAnswer = (status, latencyMs) => {
        onAnswer(status, latencyMs);
        left -= 1;
        if (left === 0) resolve();
        else this.#send(next, reject);
      };
      this.#send(next, reject);
    });
  }

  close(): void {
    this.#socket?.end();
    this.#socket = null;
  }

  #send(onAnswer: OnAnswer, onFailure: (error: Error) => void): void {
    const refusal = this.#failure ?? (this.#pending ? new Error("one request at a time per connection") : null);
    const socket = this.#socket;
    if (refusal || !socket) {
      onFailure(refusal ?? new Error("connection closed"));
      return;
    }
    this.#pending = { sentAt: performance.now(), onAnswer, onFailure };
    // A request is a few hundred bytes into an empty socket buffer: it is written whole or not at all.
    if (socket.write(this.#request) !== this.#request.length) this.#fail(new Error("request not written whole"));
  }

  #onData(chunk: Uint8Array): void {
    const bytes = this.#partial.length === 0 ? chunk : Buffer.concat([this.#partial, chunk]);
    let framed: ReturnType<typeof frameResponse>;
    try {
      framed = frameResponse(bytes);
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (!framed) {
      // Keep a copy: the chunk's memory belongs to the socket once this callback returns.
      this.#partial = bytes === chunk ? chunk.slice() : bytes;
      return;
    }
    if (framed.length !== bytes.length) {
      this.#fail(new Error("bytes after the response, with no request outstanding"));
      return;
    }
    this.#partial = new Uint8Array(0);
    const pending = this.#pending;
    this.#pending = null;
    pending?.onAnswer(framed.status, performance.now() - pending.sentAt);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const pending = this.#pending;
    this.#pending = null;
    pending?.onFailure(error);
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
    const ignore: OnAnswer = () => {};
    await Promise.all(connections.map((connection) => connection.sendRepeatedly(warmup, ignore)));
    const perClient = Math.max(1, Math.floor(totalRequests / connections.length));
    const samples: number[] = [];
    const statuses: Record<string, number> = {};
    let errors = 0;
    const record: OnAnswer = (status, latencyMs) => {
      samples.push(latencyMs);
      statuses[status] = (statuses[status] ?? 0) + 1;
    };
    const started = performance.now();
    await Promise.all(
      connections.map((connection) =>
        connection.sendRepeatedly(perClient, record).catch(() => {
          errors += 1;
        }),
      ),
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
