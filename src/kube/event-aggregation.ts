// Which write an event needs, as client-go's event correlator decides it: the first occurrence of an
// event (same source, object, type, reason and message) is created; repeats within the window patch
// that Event's count and lastTimestamp instead of creating new objects. Pure; the cache is data.

export interface InvolvedObject {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

export type EventType = "Normal" | "Warning";

export interface EventSpec {
  involvedObject: InvolvedObject;
  type: EventType;
  reason: string;
  message: string;
}

export interface SeenEvent {
  /** Name and namespace of the Event object that holds this series. */
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  /** Our clock (ms) at the last occurrence. */
  lastSeenAt: number;
}

export type EventWrite =
  | { write: "create"; name: string; namespace: string; count: 1; firstTimestamp: string; lastTimestamp: string }
  | { write: "patch"; name: string; namespace: string; count: number; firstTimestamp: string; lastTimestamp: string };

export function aggregationKey(component: string, host: string, event: EventSpec): string {
  const o = event.involvedObject;
  return JSON.stringify([
    component,
    host,
    o.kind,
    o.namespace ?? "",
    o.name,
    o.uid ?? "",
    o.apiVersion ?? "",
    event.type,
    event.reason,
    event.message,
  ]);
}

/** Events of cluster-scoped objects live in "default", as client-go puts them. */
export function eventNamespace(object: InvolvedObject): string {
  return object.namespace || "default";
}

/** metav1.Time: RFC 3339, whole seconds. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** client-go's event name: `<object name>.<nanosecond timestamp in hex>`. */
export function eventName(object: InvolvedObject, ms: number, sequence: number): string {
  const nanos = BigInt(Math.floor(ms)) * 1_000_000n + BigInt(sequence % 1_000_000);
  return `${object.name}.${nanos.toString(16)}`;
}

export function decideEventWrite(
  seen: SeenEvent | undefined,
  event: EventSpec,
  now: number,
  windowMs: number,
  sequence: number,
): EventWrite {
  const timestamp = formatTime(now);
  if (seen && now - seen.lastSeenAt <= windowMs) {
    return {
      write: "patch",
      name: seen.name,
      namespace: seen.namespace,
      count: seen.count + 1,
      firstTimestamp: seen.firstTimestamp,
      lastTimestamp: timestamp,
    };
  }
  return {
    write: "create",
    name: eventName(event.involvedObject, now, sequence),
    namespace: eventNamespace(event.involvedObject),
    count: 1,
    firstTimestamp: timestamp,
    lastTimestamp: timestamp,
  };
}
