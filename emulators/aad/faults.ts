// Runtime fault injection for the AAD emulator's token endpoints: the next N token requests (of one
// app or tenant, or any) fail as AAD fails, whatever their credentials. A throttled answer is what AAD
// sends to client-credentials callers: 429 with `Retry-After` (60 s by default) and the plain-text body
// "Too Many Requests" (not JSON; clients must cope). Faults are used up in the order they were added.
import { type AadError, invalidSecret, serverError, temporarilyUnavailable } from "./errors.ts";

export type AadFaultKind = "invalid_client" | "server_error" | "temporarily_unavailable" | "throttled";

export interface AadFaultOptions {
  /** How many matching token requests fail (default 1). */
  times?: number;
  /** Only requests of this app (client_id, case-insensitive). */
  clientId?: string;
  /** Only requests to this tenant (case-insensitive). */
  tenant?: string;
  /** Adds a Retry-After header; for "throttled" the default is 60. */
  retryAfterSeconds?: number;
}

export type FaultAnswer =
  | { kind: "error"; error: AadError; retryAfterSeconds?: number }
  | { kind: "throttled"; retryAfterSeconds: number };

interface Pending {
  fault: AadFaultKind | AadError;
  remaining: number;
  clientId?: string;
  tenant?: string;
  retryAfterSeconds?: number;
}

export class AadFaults {
  private pending: Pending[] = [];

  add(fault: AadFaultKind | AadError, opts: AadFaultOptions = {}): void {
    const times = opts.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new Error(`failNext: times must be a positive integer`);
    this.pending.push({
      fault,
      remaining: times,
      ...(opts.clientId ? { clientId: opts.clientId.toLowerCase() } : {}),
      ...(opts.tenant ? { tenant: opts.tenant.toLowerCase() } : {}),
      ...(opts.retryAfterSeconds !== undefined ? { retryAfterSeconds: opts.retryAfterSeconds } : {}),
    });
  }

  /** The answer for this token request when a fault matches it (and uses one of its times up). */
  take(tenant: string, clientId: string): FaultAnswer | undefined {
    const found = this.pending.find(
      (p) =>
        (p.clientId === undefined || p.clientId === clientId.toLowerCase()) &&
        (p.tenant === undefined || p.tenant === tenant.toLowerCase()),
    );
    if (!found) return undefined;
    found.remaining -= 1;
    if (found.remaining <= 0) this.pending = this.pending.filter((p) => p !== found);
    const retry = found.retryAfterSeconds !== undefined ? { retryAfterSeconds: found.retryAfterSeconds } : {};
    switch (found.fault) {
      case "throttled":
        return { kind: "throttled", retryAfterSeconds: found.retryAfterSeconds ?? 60 };
      case "invalid_client":
        return { kind: "error", error: invalidSecret(clientId), ...retry };
      case "server_error":
        return { kind: "error", error: serverError, ...retry };
      case "temporarily_unavailable":
        return { kind: "error", error: temporarilyUnavailable, ...retry };
      default:
        return { kind: "error", error: found.fault, ...retry };
    }
  }

  clear(): void {
    this.pending = [];
  }
}
