// Reads the Secrets behind service-principal identities. The secrets informer (all namespaces) is only
// started on the first type 1/2 request, so a cluster with managed identities only never lists secrets
// (and needs no RBAC for them). Until it has synced, or when it cannot list (RBAC), a direct GET is used.
import * as v from "valibot";
import type { KubeClient } from "../../../kube/client.ts";
import { Informer } from "../../../kube/informer.ts";
import type { KubeLogger } from "../../../kube/log.ts";
import { parserFor } from "../../../kube/objects.ts";
import type { SecretData } from "./secret-credential.ts";

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

/** How long a request waits for the informer's first list before reading the Secret directly. */
const SYNC_WAIT_MS = 3000;

export class SecretReader {
  readonly informer: Informer<Secret>;
  #started = false;

  constructor(
    private readonly client: KubeClient,
    logger: KubeLogger,
  ) {
    this.informer = new Informer<Secret>({ client, path: "/api/v1/secrets", parse: parseSecret, logger });
  }

  async read(namespace: string, name: string): Promise<SecretData> {
    if (!this.#started) {
      this.#started = true;
      this.informer.start();
    }
    if (!this.informer.hasSynced()) {
      await Promise.race([this.informer.synced, new Promise((resolve) => setTimeout(resolve, SYNC_WAIT_MS))]).catch(
        () => {},
      );
    }
    if (this.informer.hasSynced()) {
      const cached = this.informer.get(namespace, name);
      if (!cached) throw new Error(`secret ${namespace}/${name} not found`);
      return cached.data ?? {};
    }
    const raw = await this.client.requestJson(
      "GET",
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
    );
    const parsed = parseSecret(raw);
    if (!parsed.ok) throw new Error(`secret ${namespace}/${name} is malformed: ${parsed.problems.join("; ")}`);
    return parsed.value.data ?? {};
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }
}
