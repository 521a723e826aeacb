// What the bench asks of the load generator, and how it runs it: in a child process (load-worker.ts).
import { resolve } from "node:path";
import * as v from "valibot";
import type { LoadResult } from "./load-client.ts";

export const LoadJobSchema = v.object({
  mode: v.picklist(["closed-loop", "burst"]),
  target: v.object({
    host: v.pipe(v.string(), v.ip(), v.startsWith("127.")),
    port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)),
    path: v.pipe(v.string(), v.startsWith("/")),
    headers: v.optional(v.record(v.string(), v.string())),
  }),
  sources: v.array(v.pipe(v.string(), v.ip(), v.startsWith("127."))),
  totalRequests: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
  warmup: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
});
export type LoadJob = v.InferInput<typeof LoadJobSchema>;

const LoadResultSchema = v.object({
  completed: v.number(),
  errors: v.number(),
  statuses: v.record(v.string(), v.number()),
  elapsedMs: v.number(),
  latency: v.object({
    count: v.number(),
    p50Ms: v.nullable(v.number()),
    p99Ms: v.nullable(v.number()),
    maxMs: v.nullable(v.number()),
  }),
});

const workerPath = resolve(import.meta.dir, "load-worker.ts");

/** Runs the job in a fresh bun process and returns its result (NaN for percentiles of an empty run). */
export async function runLoadInChild(job: LoadJob): Promise<LoadResult> {
  const child = Bun.spawn([process.execPath, workerPath, JSON.stringify(job)], { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  if (code !== 0) throw new Error(`load worker exited ${code}: ${err.trim()}`);
  const parsed = v.parse(LoadResultSchema, JSON.parse(out.trim().split("\n").at(-1) ?? "null"));
  const orNaN = (n: number | null) => n ?? Number.NaN;
  return {
    ...parsed,
    latency: {
      count: parsed.latency.count,
      p50Ms: orNaN(parsed.latency.p50Ms),
      p99Ms: orNaN(parsed.latency.p99Ms),
      maxMs: orNaN(parsed.latency.maxMs),
    },
  };
}
