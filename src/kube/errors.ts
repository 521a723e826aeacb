// One error type for everything that comes back from the API server, whichever path made the call
// (client-node's generated APIs, or our own list/watch requests). client-node's ApiException carries
// the Status body as a string (or a half-parsed value); here it is parsed once, with valibot.
import { ApiException } from "@kubernetes/client-node";
import * as v from "valibot";

const StatusSchema = v.looseObject({
  kind: v.optional(v.string()),
  status: v.optional(v.string()),
  message: v.optional(v.string()),
  reason: v.optional(v.string()),
  code: v.optional(v.number()),
  details: v.optional(v.unknown()),
});
export type KubeStatus = v.InferOutput<typeof StatusSchema>;

export class KubeApiError extends Error {
  /** HTTP status code; 0 when the request never got an answer (network, TLS, abort). */
  readonly code: number;
  /** The parsed `Status` object, when the server sent one. */
  readonly status: KubeStatus | undefined;
  /** The `reason` of the Status (NotFound, AlreadyExists, Conflict, Expired, ...), or "" when absent. */
  readonly reason: string;

  constructor(code: number, status: KubeStatus | undefined, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KubeApiError";
    this.code = code;
    this.status = status;
    this.reason = status?.reason ?? "";
  }
}

/** Parses a response body (string, object or nothing) into a Status, if it is one. */
export function parseStatus(body: unknown): KubeStatus | undefined {
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const result = v.safeParse(StatusSchema, value);
  return result.success ? result.output : undefined;
}

/** Builds a KubeApiError from a status code and raw body. */
export function kubeApiErrorFrom(code: number, body: unknown, what: string): KubeApiError {
  const status = parseStatus(body);
  const detail = status?.message ?? (typeof body === "string" && body.length > 0 ? body.slice(0, 300) : "");
  return new KubeApiError(code, status, `${what}: HTTP ${code}${detail ? `: ${detail}` : ""}`);
}

/** Converts anything a Kubernetes call threw into a KubeApiError (idempotent). */
export function toKubeApiError(err: unknown, what = "kubernetes request"): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof ApiException) {
    const apiErr = err as ApiException<unknown>;
    const converted = kubeApiErrorFrom(apiErr.code, apiErr.body, what);
    return new KubeApiError(converted.code, converted.status, converted.message, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new KubeApiError(0, undefined, `${what}: ${message}`, { cause: err });
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.code === 409;
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof KubeApiError && err.code === 409 && err.reason === "AlreadyExists";
export const isGone = (err: unknown): boolean => err instanceof KubeApiError && err.code === 410;

/** Runs a client-node call and rethrows its failure as a KubeApiError. */
export async function kubeCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toKubeApiError(err, what);
  }
}
