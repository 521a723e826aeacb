// The NMI ports over src/kube informers: the node's pods by IP, the node's AzureAssignedIdentities by
// pod, and the exceptions. Change feeds are announced from the informers' handlers, which run after
// the informer's store has changed, so a listener always sees the new state.
import type { AzureAssignedIdentity, AzurePodIdentityException } from "../../../kube/crds.ts";
import { INDEX_ASSIGNED_BY_POD, INDEX_POD_IP, podKey } from "../../../kube/indexes.ts";
import type { Informer } from "../../../kube/informer.ts";
import type { Pod } from "../../../kube/objects.ts";
import type { KubeObjectLike } from "../../../kube/store.ts";
import { TupleMemo } from "../../../support/tuple-memo.ts";
import { pickCaller } from "../caller-lookup.ts";
import type {
  AssignedIdentitySource,
  ChangeFeed,
  ExceptionSource,
  PodInfo,
  PodLookup,
  PodLookupResult,
} from "../ports.ts";
import { podInfoOf } from "./pod-info.ts";

class InformerFeed<T extends KubeObjectLike> implements ChangeFeed {
  readonly #listeners = new Set<() => void>();

  constructor(informer: Informer<T>) {
    const emit = () => {
      for (const listener of [...this.#listeners]) listener();
    };
    informer.on("add", emit).on("update", emit).on("delete", emit);
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

// The store replaces a pod's object on every update, so a PodInfo made from an object stays true for it;
// caching it (and the lookup answer naming it alone) saves rebuilding them on every token request.
interface KnownPod {
  info: PodInfo;
  alone: PodLookupResult;
}
const knownPods = new WeakMap<Pod, KnownPod>();
function knownPod(pod: Pod): KnownPod {
  let known = knownPods.get(pod);
  if (!known) {
    const info = podInfoOf(pod);
    known = { info, alone: Object.freeze(pickCaller([info])) };
    knownPods.set(pod, known);
  }
  return known;
}
const cachedPodInfo = (pod: Pod): PodInfo => knownPod(pod).info;

export class InformerPodLookup implements PodLookup {
  readonly #pods: Informer<Pod>;
  readonly #feed: InformerFeed<Pod>;

  /** `pods` lists this node's pods only (field selector spec.nodeName=<node>) and has the podIP index. */
  constructor(pods: Informer<Pod>) {
    this.#pods = pods;
    this.#feed = new InformerFeed(pods);
  }

  subscribe(listener: () => void): () => void {
    return this.#feed.subscribe(listener);
  }

  byIp(ip: string): PodLookupResult {
    // The index holds Pending and Running pods only.
    const holders = this.#pods.byIndex(INDEX_POD_IP, ip);
    const only = holders.length === 1 ? holders[0] : undefined;
    return only ? knownPod(only).alone : pickCaller(holders.map(cachedPodInfo));
  }

  byName(namespace: string, name: string): PodInfo | undefined {
    const pod = this.#pods.get(namespace, name);
    return pod ? cachedPodInfo(pod) : undefined;
  }
}

const recordKey = (record: AzureAssignedIdentity) =>
  record.metadata.uid || `${record.metadata.namespace ?? ""}/${record.metadata.name}`;

export class InformerAssignedIdentities implements AssignedIdentitySource {
  readonly #records: Informer<AzureAssignedIdentity>;
  readonly #assignedAt = new Map<string, number>();
  readonly #feed: InformerFeed<AzureAssignedIdentity>;
  /** Index keys of the pods asked about (one per token request otherwise); /host/token names are callers'. */
  readonly #podKeys = new TupleMemo<string>(4096);

  constructor(records: Informer<AzureAssignedIdentity>, now: () => number = Date.now) {
    this.#records = records;
    // Recorded before the feed's own handlers are registered, so a woken request already sees the time.
    const observe = (record: AzureAssignedIdentity) => {
      const key = recordKey(record);
      if (record.status?.status !== "Assigned") this.#assignedAt.delete(key);
      else if (!this.#assignedAt.has(key)) this.#assignedAt.set(key, now());
    };
    records
      .on("add", observe)
      .on("update", observe)
      .on("delete", (record) => this.#assignedAt.delete(recordKey(record)));
    this.#feed = new InformerFeed(records);
  }

  subscribe(listener: () => void): () => void {
    return this.#feed.subscribe(listener);
  }

  forPod(podNamespace: string, podName: string): readonly AzureAssignedIdentity[] {
    const key =
      this.#podKeys.get(podNamespace, podName) ??
      this.#podKeys.set(podKey(podNamespace, podName), podNamespace, podName);
    return this.#records.byIndex(INDEX_ASSIGNED_BY_POD, key);
  }

  /** When this NMI saw the record become Assigned (bounds IMDS "Identity not found" retries). */
  assignedAtMs(record: AzureAssignedIdentity): number | undefined {
    return this.#assignedAt.get(recordKey(record));
  }
}

export class InformerExceptions implements ExceptionSource {
  constructor(private readonly exceptions: Informer<AzurePodIdentityException>) {}

  inNamespace(namespace: string): readonly AzurePodIdentityException[] {
    return this.exceptions.list(namespace);
  }
}
