// Drops cached tokens when an object behind them changes or goes away. Only a real change counts
// (another resourceVersion): a re-list that delivers the same objects keeps the cache.
import type { Informer } from "../../../kube/informer.ts";
import type { KubeObjectLike } from "../../../kube/store.ts";

export interface Invalidator {
  invalidate(tag: string): number;
}

type Tagged = KubeObjectLike & { metadata: { resourceVersion?: string } };

/** Pure: whether an update replaces what a cached token was fetched for. */
export function changedObject(previous: Tagged, current: Tagged): boolean {
  return (previous.metadata.resourceVersion ?? "") !== (current.metadata.resourceVersion ?? "");
}

export function invalidateOnChange<T extends Tagged>(
  informer: Informer<T>,
  cache: Invalidator,
  tagOf: (namespace: string, name: string) => string,
): void {
  const drop = (obj: T) => cache.invalidate(tagOf(obj.metadata.namespace ?? "", obj.metadata.name));
  informer
    .on("update", (current, previous) => {
      if (changedObject(previous, current)) drop(current);
    })
    .on("delete", drop);
}
