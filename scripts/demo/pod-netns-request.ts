// A token request sent from inside a pod's network namespace, as an application in the pod would send
// it: a plain GET to http://169.254.169.254/..., no proxy or address override. Whatever answers is what
// the node's iptables sent the request to. The client is a one-line Bun script run with `ip netns exec`.
import * as v from "valibot";
import type { PodResponse } from "./pod-request.ts";

const CLIENT = `
const started = performance.now();
try {
  const res = await fetch(process.argv[1], { headers: { Metadata: "true" }, signal: AbortSignal.timeout(30000) });
  const body = await res.text();
  console.log(JSON.stringify({ status: res.status, body, ms: performance.now() - started }));
} catch (error) {
  console.log(JSON.stringify({ status: 0, body: String(error), ms: performance.now() - started }));
}
`;

const answerSchema = v.object({ status: v.number(), body: v.string(), ms: v.number() });

export async function requestFromPodNamespace(netns: string, url: string, cwd: string): Promise<PodResponse> {
  const child = Bun.spawn(["ip", "netns", "exec", netns, process.execPath, "-e", CLIENT, url], {
    // A pod's environment: nothing of the demo's (no CA bundle, no proxy, no IMDS override).
    env: { PATH: process.env.PATH },
    cwd,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(out.trim());
  } catch {
    parsed = undefined;
  }
  const answer = v.safeParse(answerSchema, parsed);
  if (!answer.success) throw new Error(`the client in ${netns} exited ${code}: ${(out + err).trim()}`);
  return answer.output;
}
