// In-memory implementations of the informer ports: used by tests and the e2e harness, and a reference
// for the adapters over src/kube informers (same semantics: listeners run after the store changed).
import type { AzureAssignedIdentity, AzurePodIdentityException } from "../../kube/crds.ts";
import { pickCaller } from "./caller-lookup.ts";
import type {
  AssignedIdentitySource,
  ChangeFeed,
  ExceptionSource,
  PodInfo,
  PodLookup,
  PodLookupResult,
} from "./ports.ts";

class Feed implements ChangeFeed {
  readonly #listeners = new Set<() => void>();

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  protected emit(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

function addToIndex(index: Map<string, Set<string>>, value: string, objectKey: string): void {
  const keys = index.get(value);
  if (keys) keys.add(objectKey);
  else index.set(value, new Set([objectKey]));
}

/** Only Pending and Running pods own their IP: a finished pod's IP may already belong to a new pod. */
export function podOwnsIp(pod: PodInfo): boolean {
  return pod.phase === "Pending" || pod.phase === "Running";
}

export class InMemoryPods extends Feed implements PodLookup {
  readonly #pods = new Map<string, PodInfo>();
  /** ip → keys of the pods that carry it (any phase; byIp filters), so a lookup is not a scan. */
  readonly #byIp = new Map<string, Set<string>>();

  upsert(pod: PodInfo): void {
    const k = key(pod.namespace, pod.name);
    this.#unindex(k);
    this.#pods.set(k, pod);
    addToIndex(this.#byIp, pod.ip, k);
    this.emit();
  }

  remove(namespace: string, name: string): void {
    const k = key(namespace, name);
    this.#unindex(k);
    this.#pods.delete(k);
    this.emit();
  }

  #unindex(k: string): void {
    const old = this.#pods.get(k);
    if (!old) return;
    const keys = this.#byIp.get(old.ip);
    keys?.delete(k);
    if (keys?.size === 0) this.#byIp.delete(old.ip);
  }

  byIp(ip: string): PodLookupResult {
    const matches: PodInfo[] = [];
    for (const k of this.#byIp.get(ip) ?? []) {
      const pod = this.#pods.get(k);
      if (pod && podOwnsIp(pod)) matches.push(pod);
    }
    return pickCaller(matches);
  }

  byName(namespace: string, name: string): PodInfo | undefined {
    return this.#pods.get(key(namespace, name));
  }
}

export class InMemoryAssignments extends Feed implements AssignedIdentitySource {
  readonly #records = new Map<string, AzureAssignedIdentity>();
  /** "podNamespace/pod" → record keys, so forPod is not a scan. */
  readonly #byPod = new Map<string, Set<string>>();

  upsert(record: AzureAssignedIdentity): void {
    const k = key(record.metadata.namespace ?? "", record.metadata.name);
    this.#unindex(k);
    this.#records.set(k, record);
    addToIndex(this.#byPod, key(record.spec.podNamespace, record.spec.pod), k);
    this.emit();
  }

  remove(namespace: string, name: string): void {
    const k = key(namespace, name);
    this.#unindex(k);
    this.#records.delete(k);
    this.emit();
  }

  #unindex(k: string): void {
    const old = this.#records.get(k);
    if (!old) return;
    const pod = key(old.spec.podNamespace, old.spec.pod);
    const keys = this.#byPod.get(pod);
    keys?.delete(k);
    if (keys?.size === 0) this.#byPod.delete(pod);
  }

  forPod(podNamespace: string, podName: string): readonly AzureAssignedIdentity[] {
    const out: AzureAssignedIdentity[] = [];
    for (const k of this.#byPod.get(key(podNamespace, podName)) ?? []) {
      const record = this.#records.get(k);
      if (record) out.push(record);
    }
    return out;
  }
}

export class InMemoryExceptions implements ExceptionSource {
  readonly items: AzurePodIdentityException[] = [];

  inNamespace(namespace: string): readonly AzurePodIdentityException[] {
    return this.items.filter((e) => (e.metadata.namespace ?? "") === namespace);
  }
}
