// The informers MIC watches (pods, nodes, AzureIdentity, AzureIdentityBinding, AzureAssignedIdentity;
// all namespaces) and the bridge that feeds the current leader's controller. Informers run on every
// replica, so a standby that wins the lease starts from warm caches; only the leader's controller is
// attached, and detaching it means no event reaches it any more.
import type { KubeClient } from "../../../kube/client.ts";
import type { AzureAssignedIdentity } from "../../../kube/crds.ts";
import type { Informer } from "../../../kube/informer.ts";
import {
  azureAssignedIdentityInformer,
  azureIdentityBindingInformer,
  azureIdentityInformer,
  nodeInformer,
  podInformer,
} from "../../../kube/informers.ts";
import type { KubeLogger } from "../../../kube/log.ts";
import type { KubeObjectLike } from "../../../kube/store.ts";
import type { MicController } from "../controller.ts";
import { nodeInfoOf, podInfoOf } from "./kube-mapping.ts";

export interface MicInformerHooks {
  /** A record became Assigned (seen once per record); `podCreated` is the pod's creationTimestamp (ms). */
  onAssigned?: (record: AzureAssignedIdentity, podCreated: number | undefined) => void;
}

export class MicInformers {
  readonly pods;
  readonly nodes;
  readonly identities;
  readonly bindings;
  readonly assigned;
  private controller: MicController | undefined;
  private readonly assignedSeen = new Set<string>();

  constructor(client: KubeClient, logger: KubeLogger, hooks: MicInformerHooks = {}) {
    const settings = { logger };
    this.pods = podInformer(client, settings);
    this.nodes = nodeInformer(client, settings);
    this.identities = azureIdentityInformer(client, settings);
    this.bindings = azureIdentityBindingInformer(client, settings);
    this.assigned = azureAssignedIdentityInformer(client, settings);

    const ctl = () => this.controller;
    this.pods
      .on("add", (pod) => ctl()?.upsertPod(podInfoOf(pod)))
      .on("update", (pod) => ctl()?.upsertPod(podInfoOf(pod)))
      .on("delete", (pod) => ctl()?.deletePod(pod.metadata.namespace, pod.metadata.name));
    this.nodes
      .on("add", (node) => ctl()?.upsertNode(nodeInfoOf(node)))
      .on("update", (node) => ctl()?.upsertNode(nodeInfoOf(node)))
      .on("delete", (node) => ctl()?.deleteNode(node.metadata.name));
    this.identities
      .on("add", (obj) => ctl()?.upsertIdentity(obj))
      .on("update", (obj) => ctl()?.upsertIdentity(obj))
      .on("delete", (obj) => ctl()?.deleteIdentity(obj.metadata.namespace, obj.metadata.name));
    this.bindings
      .on("add", (obj) => ctl()?.upsertBinding(obj))
      .on("update", (obj) => ctl()?.upsertBinding(obj))
      .on("delete", (obj) => ctl()?.deleteBinding(obj.metadata.namespace, obj.metadata.name));

    const assignedChanged = (record: AzureAssignedIdentity) => {
      ctl()?.upsertAssignedIdentity(record);
      if (record.status?.status !== "Assigned" || !hooks.onAssigned || !this.controller) return;
      const key = record.metadata.uid ?? `${record.metadata.namespace}/${record.metadata.name}`;
      if (this.assignedSeen.has(key)) return;
      this.assignedSeen.add(key);
      const pod = this.pods.get(record.spec.podNamespace, record.spec.pod);
      const created = pod ? Date.parse(String(pod.metadata.creationTimestamp ?? "")) : Number.NaN;
      hooks.onAssigned(record, Number.isNaN(created) ? undefined : created);
    };
    this.assigned
      .on("add", assignedChanged)
      .on("update", assignedChanged)
      .on("delete", (record) => {
        this.assignedSeen.delete(record.metadata.uid ?? `${record.metadata.namespace}/${record.metadata.name}`);
        ctl()?.deleteAssignedIdentity(record.metadata.namespace, record.metadata.name);
      });
  }

  private all(): Informer<KubeObjectLike>[] {
    return [
      this.pods,
      this.nodes,
      this.identities,
      this.bindings,
      this.assigned,
    ] as unknown as Informer<KubeObjectLike>[];
  }

  start(): void {
    for (const informer of this.all()) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((informer) => informer.stop()));
  }

  hasSynced(): boolean {
    return this.all().every((informer) => informer.hasSynced());
  }

  /** Resolves once every informer has listed; rejects if one is stopped first or `signal` aborts. */
  async synced(signal: AbortSignal): Promise<void> {
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => {});
    await Promise.race([Promise.all(this.all().map((informer) => informer.synced)), aborted]);
  }

  /** Replays the caches into `controller`, then routes every later event to it. */
  attach(controller: MicController): void {
    for (const node of this.nodes.list()) controller.upsertNode(nodeInfoOf(node));
    for (const obj of this.identities.list()) controller.upsertIdentity(obj);
    for (const obj of this.bindings.list()) controller.upsertBinding(obj);
    for (const pod of this.pods.list()) controller.upsertPod(podInfoOf(pod));
    for (const record of this.assigned.list()) {
      controller.upsertAssignedIdentity(record);
      // Records already Assigned before this term are not new assignments.
      if (record.status?.status === "Assigned")
        this.assignedSeen.add(record.metadata.uid ?? `${record.metadata.namespace}/${record.metadata.name}`);
    }
    this.controller = controller;
  }

  detach(): void {
    this.controller = undefined;
  }
}
