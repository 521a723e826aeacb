// What a pod does, run inside its network namespace: plain HTTP with curl, the unmodified
// @azure/identity ManagedIdentityCredential (no AZURE_POD_IDENTITY_AUTHORITY_HOST, so it goes to
// 169.254.169.254 like an application on AKS), `pod-identity wait`, and a busybox-style shell gate on
// NMI's /healthz. Pod processes get a minimal environment: nothing of the test's leaks in.
import { resolve } from "node:path";
import { decodeJwt } from "jose";
import { LineProcess } from "./line-process.ts";
import type { PodNetwork } from "./netns-topology.ts";
import { inNetns } from "./netns-topology.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const podEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/tmp",
  ...extra,
});

export interface CurlAnswer {
  /** curl's exit code: 0 answered, 7 connection refused, 28 timed out. */
  exit: number;
  /** HTTP status, 0 when there was no answer. */
  status: number;
  body: string;
}

export function curlFromPod(
  pod: PodNetwork,
  url: string,
  headers: Record<string, string> = { Metadata: "true" },
  timeoutSeconds = 5,
): CurlAnswer {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
  const result = inNetns(
    pod.netns,
    ["curl", "-s", "-m", String(timeoutSeconds), ...headerArgs, "-w", "\n%{http_code}", url],
    { allowFail: true, env: podEnv() },
  );
  const lines = result.stdout.split("\n");
  return { exit: result.code, status: Number(lines.at(-1) ?? "0"), body: lines.slice(0, -1).join("\n") };
}

export function tokenUrl(resource: string, extra: Record<string, string> = {}): string {
  const query = new URLSearchParams({ "api-version": "2018-02-01", resource, ...extra });
  return `http://169.254.169.254/metadata/identity/oauth2/token?${query}`;
}

/** /healthz on the node, as the pod sees it at $HOST_IP:<port>. */
export function probeFromPod(pod: PodNetwork, port: number): CurlAnswer {
  return curlFromPod(pod, `http://${pod.hostIp}:${port}/healthz`, {}, 3);
}

export type SdkOutcome = { ok: true; claims: Record<string, unknown> } | { ok: false; error: string };

const SDK_SCRIPT = `
import { ManagedIdentityCredential } from "@azure/identity";
const clientId = process.env.E2E_CLIENT_ID;
try {
  const credential = clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
  const token = await credential.getToken(process.env.E2E_SCOPE);
  console.log("SDK-TOKEN " + token.token);
} catch (error) {
  console.log("SDK-ERROR " + JSON.stringify(String(error?.message ?? error)));
}
`;

/** An unmodified ManagedIdentityCredential in the pod, as an application would use it. */
export function sdkTokenFromPod(pod: PodNetwork, scope: string, clientId?: string): SdkOutcome {
  const result = Bun.spawnSync(["ip", "netns", "exec", pod.netns, process.execPath, "-e", SDK_SCRIPT], {
    cwd: ROOT,
    env: podEnv({ E2E_SCOPE: scope, ...(clientId ? { E2E_CLIENT_ID: clientId } : {}) }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = result.stdout.toString();
  const token = /^SDK-TOKEN (\S+)$/m.exec(out)?.[1];
  if (token) return { ok: true, claims: decodeJwt(token) };
  return { ok: false, error: `${out}${result.stderr.toString()}`.trim() };
}

export interface WaitRun {
  code: number;
  output: string;
}

/** `pod-identity wait` in the pod with HOST_IP set to the node's end of its veth. */
export function waitFromPod(pod: PodNetwork, binary: string, args: string[]): WaitRun {
  const result = inNetns(pod.netns, [binary, "wait", ...args], {
    allowFail: true,
    env: podEnv({ HOST_IP: pod.hostIp }),
  });
  return { code: result.code, output: `${result.stdout}${result.stderr}`.trim() };
}

/** The tool the shell gate uses: busybox's wget, else GNU wget, else curl -fsS (named in reports). */
export function gateTool(): { name: string; fetch: string } {
  if (Bun.which("busybox")) return { name: "busybox wget", fetch: "busybox wget -qO-" };
  if (Bun.which("wget")) return { name: "wget", fetch: "wget -qO-" };
  return { name: "curl -fsS", fetch: "curl -fsS" };
}

/**
 * The init-container gate from the chart docs, `until wget -qO- $HOST_IP:<port>/healthz; do sleep 1;
 * done`, printing `tick` per failed attempt and `GATE PASSED` when through.
 */
export function startShellGate(pod: PodNetwork, port: number): LineProcess {
  const script = `until ${gateTool().fetch} "http://$HOST_IP:${port}/healthz"; do echo tick; sleep 1; done; echo; echo GATE PASSED`;
  return new LineProcess(["ip", "netns", "exec", pod.netns, "sh", "-c", script], {
    env: podEnv({ HOST_IP: pod.hostIp }),
  });
}
