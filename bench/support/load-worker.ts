// Child-process entry of the load generator, so the generator and the server under test each get a core.
// Input: one JSON argument (a LoadJob); output: one JSON line (a LoadResult) on stdout.
import * as v from "valibot";
import { runBurst, runClosedLoop } from "./load-client.ts";
import { LoadJobSchema } from "./load-job.ts";

const parsed = v.safeParse(LoadJobSchema, JSON.parse(process.argv[2] ?? "null"));
if (!parsed.success) {
  console.error(`load-worker: bad job: ${parsed.issues.map((i) => i.message).join("; ")}`);
  process.exit(2);
}
const job = parsed.output;
const result =
  job.mode === "burst"
    ? await runBurst(job.target, job.sources)
    : await runClosedLoop(job.target, job.sources, job.totalRequests, job.warmup);
console.log(JSON.stringify(result));
process.exit(0);
