// A token request as a pod would send it, from the pod's IP. Without network namespaces a pod is stood
// for by a loopback source address (127.0.0.0/8 is all local on Linux), which NMI sees as the caller,
// exactly as it sees a pod's IP after the DNAT on a real node. node:http's localAddress sets it.
import http from "node:http";

export interface PodResponse {
  status: number;
  body: string;
  ms: number;
}

export function requestFromPod(
  podIp: string,
  target: { host: string; port: number },
  path: string,
): Promise<PodResponse> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.host, port: target.port, path, method: "GET", localAddress: podIp, headers: { Metadata: "true" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error("no answer within 60 s")));
    req.on("error", reject);
    req.end();
  });
}
