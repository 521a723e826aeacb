// The test side of node-world.ts: starts it inside the node's network namespace, waits for READY and
// sends it commands (one JSON line each), resolving with its answer.
import { resolve } from "node:path";
import * as v from "valibot";
import { LineProcess } from "./line-process.ts";
import {
  type ImdsHit,
  ImdsHitsSchema,
  type NodeWorldCommand,
  type NodeWorldInfo,
  NodeWorldInfoSchema,
} from "./node-world.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const ResultSchema = v.object({ id: v.number(), value: v.optional(v.unknown()), error: v.optional(v.string()) });

type CommandBody = NodeWorldCommand extends infer C ? (C extends { id: number } ? Omit<C, "id"> : never) : never;

export class NodeWorldClient {
  readonly process: LineProcess;
  info!: NodeWorldInfo;
  #nextId = 1;

  private constructor(process: LineProcess) {
    this.process = process;
  }

  static async start(nodeNetns: string, binary: string, options: { mic: boolean }): Promise<NodeWorldClient> {
    const argv = [
      "ip",
      "netns",
      "exec",
      nodeNetns,
      process.execPath,
      resolve(import.meta.dir, "node-world.ts"),
      binary,
      ...(options.mic ? [] : ["--no-mic"]),
    ];
    const client = new NodeWorldClient(
      new LineProcess(argv, { cwd: ROOT, stdin: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } }),
    );
    const ready = await client.process.waitFor(/^READY /, 20_000);
    client.info = v.parse(NodeWorldInfoSchema, JSON.parse(ready.slice("READY ".length)));
    return client;
  }

  async send(command: CommandBody, timeoutMs = 20_000): Promise<unknown> {
    const id = this.#nextId++;
    const stdin = this.process.child.stdin;
    if (!stdin || typeof stdin === "number") throw new Error("node world has no stdin");
    const from = this.process.lines.length;
    stdin.write(`${JSON.stringify({ ...command, id })}\n`);
    stdin.flush();
    const line = await this.process.waitFor(new RegExp(`^RESULT \\{"id":${id}[,}]`), timeoutMs, from);
    const result = v.parse(ResultSchema, JSON.parse(line.slice("RESULT ".length)));
    if (result.error !== undefined) throw new Error(`node world ${command.op}: ${result.error}`);
    return result.value;
  }

  async imdsHits(): Promise<ImdsHit[]> {
    return v.parse(ImdsHitsSchema, await this.send({ op: "imdsHits" }));
  }

  /** Closes stdin (the world shuts down) and makes sure MIC is gone even if the world died first. */
  async stop(): Promise<void> {
    const stdin = this.process.child.stdin;
    if (stdin && typeof stdin !== "number" && !this.process.exited) void stdin.end();
    await this.process.stop("SIGTERM", 5000);
    const micPid = this.info?.micPid;
    if (micPid) {
      try {
        process.kill(micPid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}
