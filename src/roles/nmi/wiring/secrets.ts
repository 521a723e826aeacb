// Reads the Secrets behind service-principal identities through informers, one per Secret (its namespace,
// field selector metadata.name=<name>), started on the first request that needs it. So NMI holds only the
// Secrets its identities use, never every Secret of the cluster, and a cluster with managed identities
// only reads none. A watch is stopped once no identity references its Secret any more, or after it went
// unused for a while; cached tokens made from it are dropped then, as on any change of the Secret.
// Until a new watch has listed (or when it cannot list), the one Secret is read with a direct GET.
import * as v from "valibot";
import type { KubeClient } from "../../../kube/client.ts";
import { Informer } from "../../../kube/informer.ts";
import type { KubeLogger } from "../../../kube/log.ts";
import { parserFor } from "../../../kube/objects.ts";
import { changedObject } from "./cache-invalidation.ts";
import type { SecretData } from "./secret-credential.ts";
import { secretKey, watchesToStop } from "./secret-retention.ts";

const SecretSchema = v.looseObject({
  metadata: v.looseObject({
    name: v.pipe(v.string(), v.minLength(1)),
    namespace: v.optional(v.string(), ""),
    resourceVersion: v.optional(v.string()),
  }),
  data: v.optional(v.nullable(v.record(v.string(), v.string()))),
});
export type Secret = v.InferOutput<typeof SecretSchema>;
export const parseSecret = parserFor(SecretSchema);

export interface SecretReaderOptions {
  client: KubeClient;
  logger?: KubeLogger;
  /**
   * The Secrets the identities NMI knows of reference ("namespace/name"); others are not kept watched.
   * undefined while that is not known yet (only idleness stops watches then).
   */
  referenced?: () => ReadonlySet<string> | undefined;
  /** A watch unused this long is stopped (default 15 min). */
  idleMs?: number;
  /** How often watches are checked for stopping (default 60 s). */
  sweepIntervalMs?: number;
  /** How long a request waits for a new watch's first list before reading the Secret directly (3 s). */
  syncWaitMs?: number;
  /** A watched Secret changed or went away, or its watch stopped: tokens made from it must go. */
  onChange?: (namespace: string, name: string) => void;
  /** A Secret could not be read: missing, forbidden or malformed. */
  onReadError?: (namespace: string, name: string, error: Error) => void;
  now?: () => number;
}

interface Watch {
  namespace: string;
  name: string;
  informer: Informer<Secret>;
  lastUsedMs: number;
  /** The list or watch failed before the first list: read directly instead of waiting. */
  failing: boolean;
}

export class SecretReader {
  readonly #options: SecretReaderOptions;
  readonly #now: () => number;
  readonly #watches = new Map<string, Watch>();
  #sweeper: ReturnType<typeof setInterval> | null = null;
  #stopped = false;

  constructor(options: SecretReaderOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The Secrets watched now ("namespace/name"). */
  get watched(): string[] {
    return [...this.#watches.keys()].sort();
  }

  async read(namespace: string, name: string): Promise<SecretData> {
    try {
      return await this.#read(namespace, name);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      this.#options.onReadError?.(namespace, name, failure);
      throw failure;
    }
  }

  /** Stops the watches no identity references any more and those unused for too long. */
  async sweep(): Promise<void> {
    const referenced = this.#options.referenced?.();
    const idleMs = this.#options.idleMs ?? 15 * 60_000;
    const stopping = watchesToStop(
      [...this.#watches].map(([key, watch]) => ({ key, lastUsedMs: watch.lastUsedMs })),
      referenced,
      this.#now(),
      idleMs,
    );
    await Promise.all(stopping.map((key) => this.#stopWatch(key)));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    await Promise.all([...this.#watches.keys()].map((key) => this.#stopWatch(key)));
  }

  async #read(namespace: string, name: string): Promise<SecretData> {
    const watch = this.#watchFor(namespace, name);
    watch.lastUsedMs = this.#now();
    const informer = watch.informer;
    if (!informer.hasSynced() && !watch.failing) {
      const waitMs = this.#options.syncWaitMs ?? 3000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([informer.synced, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))])
        .catch(() => {})
        .finally(() => clearTimeout(timer));
    }
    if (informer.hasSynced()) {
      const cached = informer.get(namespace, name);
      if (!cached) throw new Error(`secret ${namespace}/${name} not found`);
      return cached.data ?? {};
    }
    const raw = await this.#options.client.requestJson(
      "GET",
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
    );
    const parsed = parseSecret(raw);
    if (!parsed.ok) throw new Error(`secret ${namespace}/${name} is malformed: ${parsed.problems.join("; ")}`);
    return parsed.value.data ?? {};
  }

  #watchFor(namespace: string, name: string): Watch {
    const key = secretKey(namespace, name);
    const existing = this.#watches.get(key);
    if (existing) return existing;
    const informer = new Informer<Secret>({
      client: this.#options.client,
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
      fieldSelector: `metadata.name=${name}`,
      parse: parseSecret,
      logger: this.#options.logger,
      onError: () => {
        if (!informer.hasSynced()) watch.failing = true;
      },
    });
    const watch: Watch = { namespace, name, informer, lastUsedMs: this.#now(), failing: false };
    const changed = () => this.#options.onChange?.(namespace, name);
    informer
      .on("update", (current, previous) => {
        if (changedObject(previous, current)) changed();
      })
      .on("delete", changed);
    void informer.synced.then(
      () => {
        watch.failing = false;
      },
      () => {},
    );
    this.#watches.set(key, watch);
    informer.start();
    this.#startSweeper();
    return watch;
  }

  async #stopWatch(key: string): Promise<void> {
    const watch = this.#watches.get(key);
    if (!watch) return;
    this.#watches.delete(key);
    // Nothing watches the Secret any more, so nothing would notice it change: its tokens go now.
    this.#options.onChange?.(watch.namespace, watch.name);
    await watch.informer.stop();
  }

  #startSweeper(): void {
    if (this.#sweeper || this.#stopped) return;
    this.#sweeper = setInterval(() => void this.sweep(), this.#options.sweepIntervalMs ?? 60_000);
    // The sweeper alone must not keep the process alive.
    this.#sweeper.unref?.();
  }
}
