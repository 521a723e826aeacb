// Runtime fault injection for the IMDS emulator's token endpoint: the next N token requests get 429
// (as when IMDS's own limits are exceeded) or another status IMDS is documented to answer while it is
// being updated or failing (404, 410, 500, 503). IMDS does not document those bodies; clients key on
// the status, so the body is IMDS's flat {error, error_description} JSON with a neutral description.

export interface ImdsFaultAnswer {
  status: number;
  body: { error: string; error_description: string };
}

const BODIES: Record<number, ImdsFaultAnswer["body"]> = {
  404: { error: "not_found", error_description: "IMDS is being updated. Please retry." },
  410: { error: "gone", error_description: "IMDS is being updated. Please retry." },
  429: { error: "too_many_requests", error_description: "Too many requests" },
  500: { error: "server_error", error_description: "Internal server error" },
  503: { error: "temporarily_unavailable", error_description: "Service temporarily unavailable" },
};

export class ImdsFaults {
  private pending: Array<{ answer: ImdsFaultAnswer; remaining: number }> = [];

  add(status: number, times = 1): void {
    if (!Number.isInteger(times) || times < 1) throw new Error("times must be a positive integer");
    const body = BODIES[status];
    if (!body) throw new Error(`IMDS fault status must be one of ${Object.keys(BODIES).join(", ")}`);
    this.pending.push({ answer: { status, body }, remaining: times });
  }

  /** The injected answer for the next token request, if any (uses one of its times up). */
  take(): ImdsFaultAnswer | undefined {
    const first = this.pending[0];
    if (!first) return undefined;
    first.remaining -= 1;
    if (first.remaining <= 0) this.pending.shift();
    return first.answer;
  }

  clear(): void {
    this.pending = [];
  }
}
