// Kubernetes Events (core/v1) for the roles' "binding applied" / "binding apply error" and the like.
// Repeats of the same event within the window become one Event with a growing count (PATCH), as
// client-go's recorder does. Recording never throws and never blocks the caller: failures are logged.
import type { KubeClient } from "./client.ts";
import { isNotFound } from "./errors.ts";
import {
  aggregationKey,
  decideEventWrite,
  type EventSpec,
  type EventType,
  type EventWrite,
  type InvolvedObject,
  type SeenEvent,
} from "./event-aggregation.ts";
import { type KubeLogger, silentLogger } from "./log.ts";

export type { EventType, InvolvedObject } from "./event-aggregation.ts";

export interface EventRecorderOptions {
  client: KubeClient;
  /** source.component; the original MIC uses "aadpodidentity.k8s.io". */
  component: string;
  /** source.host (node or pod name), optional. */
  host?: string;
  logger?: KubeLogger;
  /** Repeats within this window are aggregated (client-go: 10 minutes). */
  aggregationWindowMs?: number;
  /** Series remembered at most (least recently seen forgotten first; client-go: 4096). */
  maxSeries?: number;
  now?: () => number;
}

export class EventRecorder {
  private readonly seen = new Map<string, SeenEvent>();
  /** Writes of one series run in order; different series run concurrently. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly log: KubeLogger;
  private readonly windowMs: number;
  private readonly maxSeries: number;
  private readonly now: () => number;
  private sequence = 0;

  constructor(private readonly options: EventRecorderOptions) {
    this.log = options.logger ?? silentLogger;
    this.windowMs = options.aggregationWindowMs ?? 10 * 60_000;
    this.maxSeries = options.maxSeries ?? 4096;
    this.now = options.now ?? Date.now;
  }

  /** Records an event in the background. */
  event(object: InvolvedObject, type: EventType, reason: string, message: string): void {
    void this.record(object, type, reason, message);
  }

  /** Records an event; resolves once it is written or its failure logged. Never rejects. */
  record(object: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const spec: EventSpec = { involvedObject: object, type, reason, message };
    const key = aggregationKey(this.options.component, this.options.host ?? "", spec);
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.write(key, spec));
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    return next;
  }

  /** Waits for every write in flight. */
  async flush(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private async write(key: string, spec: EventSpec): Promise<void> {
    const now = this.now();
    const decision = decideEventWrite(this.seen.get(key), spec, now, this.windowMs, this.sequence++);
    try {
      if (decision.write === "patch") {
        try {
          await this.patch(decision, spec.message);
        } catch (err) {
          // The Event expired or was deleted: start a new series.
          if (!isNotFound(err)) throw err;
          const fresh = decideEventWrite(undefined, spec, now, this.windowMs, this.sequence++);
          await this.create(fresh, spec);
          this.remember(key, fresh, now);
          return;
        }
      } else {
        await this.create(decision, spec);
      }
      this.remember(key, decision, now);
    } catch (err) {
      this.log.warn(
        {
          object: `${spec.involvedObject.kind} ${spec.involvedObject.namespace ?? ""}/${spec.involvedObject.name}`,
          reason: spec.reason,
          err: err instanceof Error ? err.message : String(err),
        },
        "could not record event",
      );
    }
  }

  private remember(key: string, write: EventWrite, now: number): void {
    this.seen.delete(key);
    this.seen.set(key, {
      name: write.name,
      namespace: write.namespace,
      count: write.count,
      firstTimestamp: write.firstTimestamp,
      lastSeenAt: now,
    });
    while (this.seen.size > this.maxSeries) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
  }

  private async create(write: EventWrite, spec: EventSpec): Promise<void> {
    const o = spec.involvedObject;
    const body = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: write.name, namespace: write.namespace },
      involvedObject: {
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.name,
        namespace: o.namespace,
        uid: o.uid,
        resourceVersion: o.resourceVersion,
        fieldPath: o.fieldPath,
      },
      reason: spec.reason,
      message: spec.message,
      type: spec.type,
      source: { component: this.options.component, host: this.options.host },
      firstTimestamp: write.firstTimestamp,
      lastTimestamp: write.lastTimestamp,
      count: write.count,
      reportingComponent: this.options.component,
      reportingInstance: this.options.host ?? "",
    };
    await this.options.client.requestJson("POST", `/api/v1/namespaces/${encodeURIComponent(write.namespace)}/events`, {
      body,
    });
  }

  private async patch(write: EventWrite, message: string): Promise<void> {
    await this.options.client.requestJson(
      "PATCH",
      `/api/v1/namespaces/${encodeURIComponent(write.namespace)}/events/${encodeURIComponent(write.name)}`,
      {
        body: { count: write.count, lastTimestamp: write.lastTimestamp, message },
        contentType: "application/merge-patch+json",
      },
    );
  }
}
