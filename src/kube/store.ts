// The informer's in-memory cache: objects by `<namespace>/<name>` (or `<name>` when cluster-scoped),
// plus named secondary indexes (e.g. pods by IP). Pure data structure, no I/O; every mutation reports
// what changed so the informer can deliver add/update/delete. An update that carries the same
// resourceVersion as the cached object changes nothing and is reported as "unchanged".
//
// Reads hand out shared, frozen arrays: NMI looks up the calling pod (by IP) and its assignments (by pod)
// on every token request, and a fresh array per lookup was garbage the server collected thousands of
// times a second. An array is rebuilt on the first read after a write that touched it.

export interface KubeObjectLike {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

/** client-go's MetaNamespaceKeyFunc. */
export function objectKey(obj: KubeObjectLike): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

export type IndexFunction<T> = (obj: T) => string[];

export type UpsertResult<T> =
  | { change: "added"; obj: T }
  | { change: "updated"; obj: T; old: T }
  | { change: "unchanged" };

export interface ReplaceResult<T> {
  added: T[];
  updated: Array<{ obj: T; old: T }>;
  deleted: T[];
}

const NOTHING: readonly never[] = Object.freeze([]);

export class IndexedStore<T extends KubeObjectLike> {
  private readonly objects = new Map<string, T>();
  private readonly indexers = new Map<string, IndexFunction<T>>();
  /** index name -> index value -> object keys */
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  /** index name -> index value -> the objects, as last handed out (dropped when that value changes) */
  private readonly indexSnapshots = new Map<string, Map<string, readonly T[]>>();
  /** namespace -> its objects, as last handed out (all dropped on any write: reads far outnumber writes) */
  private readonly namespaceSnapshots = new Map<string, readonly T[]>();

  get size(): number {
    return this.objects.size;
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  /** The cached objects in `namespace` ("" for cluster-scoped ones); shared and frozen. */
  listIn(namespace: string): readonly T[] {
    let snapshot = this.namespaceSnapshots.get(namespace);
    if (snapshot === undefined) {
      const out: T[] = [];
      for (const obj of this.objects.values()) if ((obj.metadata.namespace ?? "") === namespace) out.push(obj);
      snapshot = out.length === 0 ? NOTHING : Object.freeze(out);
      this.namespaceSnapshots.set(namespace, snapshot);
    }
    return snapshot;
  }

  keys(): string[] {
    return [...this.objects.keys()];
  }

  /** Registers an index and builds it over the objects already cached. Re-registering a name throws. */
  addIndex(name: string, fn: IndexFunction<T>): void {
    if (this.indexers.has(name)) throw new Error(`index ${name} already exists`);
    this.indexers.set(name, fn);
    this.indexes.set(name, new Map());
    this.indexSnapshots.set(name, new Map());
    for (const [key, obj] of this.objects) this.indexObject(name, fn, key, obj);
  }

  hasIndex(name: string): boolean {
    return this.indexers.has(name);
  }

  /** Objects whose index function returned `value` (shared and frozen); throws for an unknown index name. */
  byIndex(name: string, value: string): readonly T[] {
    const snapshots = this.indexSnapshots.get(name);
    const index = this.indexes.get(name);
    if (!index || !snapshots) throw new Error(`no index named ${name}`);
    let snapshot = snapshots.get(value);
    if (snapshot === undefined) {
      const out: T[] = [];
      for (const key of index.get(value) ?? []) {
        const obj = this.objects.get(key);
        if (obj) out.push(obj);
      }
      snapshot = out.length === 0 ? NOTHING : Object.freeze(out);
      // Values with no objects are not remembered: callers may ask for any IP or pod.
      if (out.length > 0) snapshots.set(value, snapshot);
    }
    return snapshot;
  }

  /** Values currently present in an index. */
  indexValues(name: string): string[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index named ${name}`);
    return [...index.keys()];
  }

  upsert(obj: T): UpsertResult<T> {
    const key = objectKey(obj);
    const old = this.objects.get(key);
    if (old && sameVersion(old, obj)) return { change: "unchanged" };
    if (old) this.unindex(key, old);
    this.objects.set(key, obj);
    this.namespaceSnapshots.clear();
    for (const [name, fn] of this.indexers) this.indexObject(name, fn, key, obj);
    return old ? { change: "updated", obj, old } : { change: "added", obj };
  }

  /** Removes by key; returns the cached object, if any. */
  remove(key: string): T | undefined {
    const old = this.objects.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.objects.delete(key);
    this.namespaceSnapshots.clear();
    return old;
  }

  /** Makes the cache equal to `objs` (a fresh list) and reports the differences. */
  replaceAll(objs: T[]): ReplaceResult<T> {
    const result: ReplaceResult<T> = { added: [], updated: [], deleted: [] };
    const fresh = new Set<string>();
    for (const obj of objs) {
      fresh.add(objectKey(obj));
      const change = this.upsert(obj);
      if (change.change === "added") result.added.push(change.obj);
      else if (change.change === "updated") result.updated.push({ obj: change.obj, old: change.old });
    }
    for (const key of this.keys()) {
      if (fresh.has(key)) continue;
      const old = this.remove(key);
      if (old) result.deleted.push(old);
    }
    return result;
  }

  private indexObject(name: string, fn: IndexFunction<T>, key: string, obj: T): void {
    const index = this.indexes.get(name);
    if (!index) return;
    const snapshots = this.indexSnapshots.get(name);
    for (const value of new Set(fn(obj))) {
      snapshots?.delete(value);
      let keys = index.get(value);
      if (!keys) {
        keys = new Set();
        index.set(value, keys);
      }
      keys.add(key);
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const index = this.indexes.get(name);
      if (!index) continue;
      const snapshots = this.indexSnapshots.get(name);
      for (const value of new Set(fn(obj))) {
        snapshots?.delete(value);
        const keys = index.get(value);
        if (!keys) continue;
        keys.delete(key);
        if (keys.size === 0) index.delete(value);
      }
    }
  }
}

function sameVersion(a: KubeObjectLike, b: KubeObjectLike): boolean {
  const rv = a.metadata.resourceVersion;
  return rv !== undefined && rv !== "" && rv === b.metadata.resourceVersion;
}
