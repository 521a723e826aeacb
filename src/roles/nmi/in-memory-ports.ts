// In-memory implementations of the informer ports: used by tests and the e2e harness, and a reference
// for the adapters over src/kube informers (same semantics: listeners run after the store changed).
import type { AzureAssignedIdentity, AzurePodIdentityException } from "../../kube/crds.ts";
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

/** Only Pending and Running pods own their IP: a finished pod's IP may already belong to a new pod. */
export function podOwnsIp(pod: PodInfo): boolean {
  return pod.phase === "Pending" || pod.phase === "Running";
}

export class InMemoryPods extends Feed implements PodLookup {
  readonly #pods = new Map<string, PodInfo>();

  upsert(pod: PodInfo): void {
    this.#pods.set(key(pod.namespace, pod.name), pod);
    this.emit();
  }

  remove(namespace: string, name: string): void {
    this.#pods.delete(key(namespace, name));
    this.emit();
  }

  byIp(ip: string): PodLookupResult {
    const matches = [...this.#pods.values()].filter((pod) => pod.ip === ip && podOwnsIp(pod));
    if (matches.length === 0) return { kind: "none" };
    if (matches.length === 1) return { kind: "found", pod: matches[0]! };
    return { kind: "ambiguous", pods: matches };
  }

  byName(namespace: string, name: string): PodInfo | undefined {
    return this.#pods.get(key(namespace, name));
  }
}

export class InMemoryAssignments extends Feed implements AssignedIdentitySource {
  readonly #records = new Map<string, AzureAssignedIdentity>();

  upsert(record: AzureAssignedIdentity): void {
    this.#records.set(key(record.metadata.namespace ?? "", record.metadata.name), record);
    this.emit();
  }

  remove(namespace: string, name: string): void {
    this.#records.delete(key(namespace, name));
    this.emit();
  }

  forPod(podNamespace: string, podName: string): AzureAssignedIdentity[] {
    return [...this.#records.values()].filter((r) => r.spec.podNamespace === podNamespace && r.spec.pod === podName);
  }
}

export class InMemoryExceptions implements ExceptionSource {
  readonly items: AzurePodIdentityException[] = [];

  inNamespace(namespace: string): AzurePodIdentityException[] {
    return this.items.filter((e) => (e.metadata.namespace ?? "") === namespace);
  }
}
