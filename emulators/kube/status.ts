// Kubernetes-shaped Status errors (k8s.io/apimachinery/pkg/api/errors): same reason, code and message
// wording as the real API server, so clients that branch on them (reason, code) behave as in a cluster.

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: Array<{ reason?: string; message: string; field?: string }>;
  retryAfterSeconds?: number;
}

export interface KubeStatus {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** A failed API call; `status` is the body the server sends. */
export class ApiError extends Error {
  readonly status: KubeStatus;
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.status = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    };
  }
  get code(): number {
    return this.status.code;
  }
}

/** What a group-resource is called in messages: "pods", "leases.coordination.k8s.io". */
export interface QualifiedResource {
  group: string;
  plural: string;
}

export function qualified(gr: QualifiedResource): string {
  return gr.group === "" ? gr.plural : `${gr.plural}.${gr.group}`;
}

function details(gr: QualifiedResource, name: string): StatusDetails {
  return { name, ...(gr.group ? { group: gr.group } : {}), kind: gr.plural };
}

export const errors = {
  notFound(gr: QualifiedResource, name: string): ApiError {
    return new ApiError(404, "NotFound", `${qualified(gr)} "${name}" not found`, details(gr, name));
  },
  alreadyExists(gr: QualifiedResource, name: string): ApiError {
    return new ApiError(409, "AlreadyExists", `${qualified(gr)} "${name}" already exists`, details(gr, name));
  },
  conflict(
    gr: QualifiedResource,
    name: string,
    why = "the object has been modified; please apply your changes to the latest version and try again",
  ): ApiError {
    return new ApiError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`,
      details(gr, name),
    );
  },
  invalid(
    kind: string,
    group: string,
    name: string,
    causes: Array<{ field: string; message: string; reason?: string }>,
  ): ApiError {
    const text = causes.map((c) => `${c.field}: ${c.message}`);
    const summary = text.length === 1 ? text[0] : `[${text.join(", ")}]`;
    const qualifiedKind = group ? `${kind}.${group}` : kind;
    return new ApiError(422, "Invalid", `${qualifiedKind} "${name}" is invalid: ${summary}`, {
      name,
      ...(group ? { group } : {}),
      kind,
      causes: causes.map((c) => ({ reason: c.reason ?? "FieldValueInvalid", message: c.message, field: c.field })),
    });
  },
  badRequest(message: string): ApiError {
    return new ApiError(400, "BadRequest", message);
  },
  unprocessable(message: string): ApiError {
    return new ApiError(422, "Invalid", message);
  },
  methodNotAllowed(): ApiError {
    return new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
  },
  unsupportedMediaType(contentType: string): ApiError {
    return new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got ${contentType}`,
    );
  },
  pathNotFound(): ApiError {
    return new ApiError(404, "NotFound", "the server could not find the requested resource");
  },
  gone(message: string): ApiError {
    return new ApiError(410, "Expired", message);
  },
  unauthorized(): ApiError {
    return new ApiError(401, "Unauthorized", "Unauthorized");
  },
  forbidden(gr: QualifiedResource, name: string, why: string): ApiError {
    return new ApiError(403, "Forbidden", `${qualified(gr)} "${name}" is forbidden: ${why}`, details(gr, name));
  },
  timeout(message: string): ApiError {
    return new ApiError(504, "Timeout", message);
  },
};

/** A Status error for an arbitrary HTTP code (fault injection), reason per apimachinery's mapping. */
export function statusForCode(code: number, message?: string): ApiError {
  const reasons: Record<number, string> = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
  };
  return new ApiError(code, reasons[code] ?? "Unknown", message ?? `injected failure (HTTP ${code})`);
}
