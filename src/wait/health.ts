// Is NMI ready? Our NMI answers 503 "Not Active" before its rules are in place; the original answered
// 200 "Not Active". Only 200 with the body "Active" counts.
import { oneLine } from "./one-line.ts";

export type HealthVerdict = { active: true } | { active: false; observed: string };

export function judgeHealth(status: number, body: string): HealthVerdict {
  if (status === 200 && body.trim() === "Active") return { active: true };
  const text = oneLine(body, 80);
  return { active: false, observed: text === "" ? `HTTP ${status}` : `HTTP ${status} ${text}` };
}

/** The probe URL; IPv6 literals need brackets. */
export function healthzUrl(host: string, port: number): string {
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return `http://${hostPart}:${port}/healthz`;
}
