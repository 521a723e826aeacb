// The API server's storage semantics without HTTP: one global resourceVersion counter (as etcd's
// revision), event history for watches (410 once compacted), optimistic concurrency, finalizers,
// status subresource rules, CRD registration. The HTTP layer and the programmatic API both call this.
import { randomUUID } from "node:crypto";
import * as v from "valibot";
import { deepEqual, jsonPatch, mergePatch, PatchError, strategicMergePatch } from "./patch.ts";
import { apiVersionOf, BUILTIN_TYPES, groupResource, type ResourceType, typeFromCrd } from "./resources.ts";
import { validateAndPrune } from "./schema.ts";
import {
  type FieldRequirement,
  type LabelRequirement,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from "./selectors.ts";
import { ApiError, errors } from "./status.ts";
import { CrdSpecSchema, type DeleteOptions, issuesText, KubeObjectSchema } from "./wire.ts";

// biome-ignore lint/suspicious/noExplicitAny: stored objects are arbitrary JSON documents
export type KubeObject = { [key: string]: any };
export type EventType = "ADDED" | "MODIFIED" | "DELETED";

interface HistoryEvent {
  rv: number;
  gr: string;
  type: EventType;
  object: KubeObject;
  prev?: KubeObject;
}

export interface Selection {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

interface CompiledSelection {
  namespace?: string;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

export interface ListOptions extends Selection {
  resourceVersion?: string;
  resourceVersionMatch?: string;
  limit?: number;
  continue?: string;
}

export interface WatchOptions extends Selection {
  resourceVersion?: string;
  sendInitialEvents?: boolean;
}

export type WatchSink = (type: EventType, object: KubeObject) => void;

export interface WatchHandle {
  /** Events to send first (synthetic ADDED for a watch without resourceVersion, or replayed history). */
  initial: Array<{ type: EventType; object: KubeObject }>;
  cancel(): void;
}

export type PatchType = "merge" | "json" | "strategic";

export interface WriteOptions {
  dryRun?: boolean;
  /** Unknown fields in custom resources: Strict → 400, Warn (default) → pruned with a warning, Ignore. */
  fieldValidation?: "Strict" | "Warn" | "Ignore";
  /** Collects the Warning headers the HTTP layer sends. */
  warnings?: string[];
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
const PROTECTED_NAMESPACES = new Set(["default", "kube-system", "kube-public"]);

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

function clone<T>(x: T): T {
  return structuredClone(x);
}

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}

export class Cluster {
  private rv = 0;
  private compactedRv = 0;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private history: HistoryEvent[] = [];
  private readonly watchers = new Set<{ gr: string; version: string; sel: CompiledSelection; sink: WatchSink }>();
  private readonly types = new Map<string, ResourceType>();
  /** Delay before the (absent) kubelet confirms a graceful pod deletion. */
  podTerminationMs = 0;

  constructor(private readonly historyLimit = 10_000) {
    for (const t of BUILTIN_TYPES) this.types.set(groupResource(t), t);
    for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"])
      this.create(this.typeFor("", "v1", "namespaces")!, "v1", undefined, {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: ns },
      });
  }

  get resourceVersion(): number {
    return this.rv;
  }

  allTypes(): ResourceType[] {
    return [...this.types.values()];
  }

  /** The type served at /api(s)/<group>/<version>/<plural>, if that version is served. */
  typeFor(group: string, version: string, plural: string): ResourceType | undefined {
    const t = this.types.get(`${group}/${plural}`);
    return t?.versions.includes(version) ? t : undefined;
  }

  typeForKind(apiVersion: string, kind: string): { type: ResourceType; version: string } | undefined {
    const slash = apiVersion.lastIndexOf("/");
    const group = slash < 0 ? "" : apiVersion.slice(0, slash);
    const version = apiVersion.slice(slash + 1);
    for (const t of this.types.values())
      if (t.group === group && t.kind === kind && t.versions.includes(version)) return { type: t, version };
    return undefined;
  }

  // ---------- reads ----------

  has(type: ResourceType, namespace: string | undefined, name: string): boolean {
    return this.bucket(type).has(keyOf(this.nsFor(type, namespace), name));
  }

  get(type: ResourceType, version: string, namespace: string | undefined, name: string): KubeObject {
    const found = this.bucket(type).get(keyOf(this.nsFor(type, namespace), name));
    if (!found) throw errors.notFound(type, name);
    return this.present(found, type, version);
  }

  list(
    type: ResourceType,
    version: string,
    opts: ListOptions = {},
  ): { items: KubeObject[]; resourceVersion: string; continue?: string; remainingItemCount?: number } {
    const sel = this.compile(type, opts);
    let atRv = this.rv;
    let startAfter = "";
    if (opts.continue) {
      const token = this.decodeContinue(opts.continue);
      atRv = token.rv;
      startAfter = token.start;
    } else {
      const rvText = opts.resourceVersion;
      const match = opts.resourceVersionMatch;
      if (match !== undefined && match !== "" && (rvText === undefined || rvText === ""))
        throw errors.unprocessable(
          `resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided`,
        );
      if (match && match !== "Exact" && match !== "NotOlderThan")
        throw errors.unprocessable(
          `resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`,
        );
      if (rvText && rvText !== "0") {
        const requested = this.parseRv(rvText);
        // Legacy semantics: a resourceVersion with a limit is an exact read, without one "not older than".
        const exact = match === "Exact" || (!match && opts.limit !== undefined && opts.limit > 0);
        if (requested > this.rv)
          throw new ApiError(504, "Timeout", `Too large resource version: ${requested}, current: ${this.rv}`, {
            causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
            retryAfterSeconds: 1,
          });
        if (exact) atRv = requested;
      } else if (match === "Exact")
        throw errors.unprocessable(
          `resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"`,
        );
    }
    if (atRv < this.compactedRv) throw errors.gone("The resourceVersion for the provided list is too old.");
    const state = atRv === this.rv ? this.bucket(type) : this.stateAt(type, atRv);
    const keys = [...state.keys()].sort().filter((k) => k > startAfter);
    const items: KubeObject[] = [];
    let next: string | undefined;
    let remaining = 0;
    for (const k of keys) {
      const obj = state.get(k)!;
      if (!this.selected(sel, obj)) continue;
      if (opts.limit && opts.limit > 0 && items.length >= opts.limit) {
        remaining++;
        continue;
      }
      items.push(this.present(obj, type, version));
      next = k;
    }
    const result: ReturnType<Cluster["list"]> = { items, resourceVersion: String(atRv) };
    if (remaining > 0 && next !== undefined) {
      result.continue = Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv: atRv, start: next })).toString(
        "base64url",
      );
      result.remainingItemCount = remaining;
    }
    return result;
  }

  watch(type: ResourceType, version: string, opts: WatchOptions, sink: WatchSink): WatchHandle {
    const sel = this.compile(type, opts);
    const gr = groupResource(type);
    const initial: WatchHandle["initial"] = [];
    const rvText = opts.resourceVersion;
    if (opts.sendInitialEvents || rvText === undefined || rvText === "" || rvText === "0") {
      if (opts.sendInitialEvents !== false || rvText === "0" || !rvText)
        for (const k of [...this.bucket(type).keys()].sort()) {
          const obj = this.bucket(type).get(k)!;
          if (this.selected(sel, obj)) initial.push({ type: "ADDED", object: this.present(obj, type, version) });
        }
    } else {
      const from = this.parseRv(rvText);
      if (from < this.compactedRv) throw errors.gone(`too old resource version: ${from} (${this.compactedRv})`);
      for (const e of this.history) {
        if (e.rv <= from || e.gr !== gr) continue;
        const out = this.transition(sel, e.type, e.object, e.prev);
        if (out) initial.push({ type: out, object: this.present(e.object, type, version) });
      }
    }
    const watcher = { gr, version, sel, sink };
    this.watchers.add(watcher);
    return { initial, cancel: () => this.watchers.delete(watcher) };
  }

  // ---------- writes ----------

  create(
    type: ResourceType,
    version: string,
    namespace: string | undefined,
    body: unknown,
    opts: WriteOptions = {},
  ): KubeObject {
    const dryRun = opts.dryRun === true;
    const obj = this.decode(type, version, body);
    const meta = obj.metadata as KubeObject;
    const ns = this.nsFor(type, namespace ?? (type.namespaced ? meta.namespace : undefined));
    if (type.namespaced) {
      if (meta.namespace && meta.namespace !== ns)
        throw errors.badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      if (!ns)
        throw errors.badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      meta.namespace = ns;
      const nsObj = this.bucket(this.types.get("/namespaces")!).get(keyOf(undefined, ns));
      if (!nsObj) throw errors.notFound({ group: "", plural: "namespaces" }, ns);
      if (nsObj.metadata.deletionTimestamp)
        throw errors.forbidden(
          type,
          meta.name ?? "",
          `unable to create new content in namespace ${ns} because it is being terminated`,
        );
    } else delete meta.namespace;
    if (meta.resourceVersion) throw errors.badRequest("resourceVersion should not be set on objects to be created");
    if (!meta.name && meta.generateName) meta.name = this.generateName(type, ns, String(meta.generateName));
    this.validateMeta(type, obj, meta.name);
    if (this.bucket(type).has(keyOf(ns, meta.name))) throw errors.alreadyExists(type, meta.name);
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    if (type.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    this.prepareCreate(type, version, obj, opts);
    if (dryRun) return this.present({ ...obj, metadata: { ...meta, resourceVersion: undefined } }, type, version);
    const stored = this.commit(type, "ADDED", obj);
    if (groupResource(type) === "apiextensions.k8s.io/customresourcedefinitions") this.registerCrd(stored);
    return this.present(stored, type, version);
  }

  update(
    type: ResourceType,
    version: string,
    namespace: string | undefined,
    name: string,
    body: unknown,
    subresource?: "status",
    opts: WriteOptions = {},
  ): KubeObject {
    const obj = this.decode(type, version, body);
    const meta = obj.metadata as KubeObject;
    const ns = this.nsFor(type, namespace);
    if (meta.name !== name)
      throw errors.badRequest(
        `the name of the object (${meta.name ?? ""}) does not match the name on the URL (${name})`,
      );
    if (type.namespaced) {
      if (meta.namespace && meta.namespace !== ns)
        throw errors.badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      meta.namespace = ns;
    } else delete meta.namespace;
    const old = this.bucket(type).get(keyOf(ns, name));
    if (!old) {
      if (type.allowCreateOnUpdate && !subresource) {
        delete meta.resourceVersion;
        return this.create(type, version, ns, obj, opts);
      }
      throw errors.notFound(type, name);
    }
    if (!meta.resourceVersion) {
      if (!type.allowUnconditionalUpdate)
        throw errors.invalid(type.kind, type.group, name, [
          { field: "metadata.resourceVersion", message: "Invalid value: 0x0: must be specified for an update" },
        ]);
    } else if (meta.resourceVersion !== old.metadata.resourceVersion) throw errors.conflict(type, name);
    return this.replace(type, version, old, obj, subresource, opts);
  }

  patch(
    type: ResourceType,
    version: string,
    namespace: string | undefined,
    name: string,
    patchType: PatchType,
    patchBody: unknown,
    subresource?: "status",
    opts: WriteOptions = {},
  ): KubeObject {
    const ns = this.nsFor(type, namespace);
    const old = this.bucket(type).get(keyOf(ns, name));
    if (!old) throw errors.notFound(type, name);
    const current = this.present(old, type, version);
    let patched: unknown;
    try {
      if (patchType === "json") patched = jsonPatch(current, patchBody);
      else if (patchType === "merge") patched = mergePatch(current, patchBody);
      else {
        if (!type.strategicMerge)
          throw new ApiError(
            415,
            "UnsupportedMediaType",
            "strategic merge patch is not supported for custom resources",
          );
        patched = strategicMergePatch(current, patchBody);
      }
    } catch (e) {
      if (e instanceof PatchError) {
        if (e.stage === "decode") throw errors.badRequest(e.message);
        throw errors.unprocessable(e.message);
      }
      throw e;
    }
    const parsed = v.safeParse(KubeObjectSchema, patched);
    if (!parsed.success) throw errors.invalid(type.kind, type.group, name, issuesText(parsed.issues));
    const obj = parsed.output as KubeObject;
    obj.metadata ??= {};
    if (obj.metadata.name !== name)
      throw errors.badRequest(
        `the name of the object (${obj.metadata.name ?? ""}) does not match the name on the URL (${name})`,
      );
    // A patch carrying metadata.resourceVersion is a precondition, as in the real server.
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== old.metadata.resourceVersion)
      throw errors.conflict(type, name);
    obj.metadata.resourceVersion = old.metadata.resourceVersion;
    return this.replace(type, version, old, this.decode(type, version, obj), subresource, opts);
  }

  delete(
    type: ResourceType,
    version: string,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): { object: KubeObject; deleted: boolean } {
    const ns = this.nsFor(type, namespace);
    const old = this.bucket(type).get(keyOf(ns, name));
    if (!old) throw errors.notFound(type, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid)
      throw errors.conflict(
        type,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion)
      throw errors.conflict(
        type,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    const gr = groupResource(type);
    if (gr === "/namespaces" && PROTECTED_NAMESPACES.has(name))
      throw errors.forbidden(type, name, "this namespace may not be deleted");
    if (options.dryRun?.includes("All")) return { object: this.present(old, type, version), deleted: false };
    const finalizers: string[] = old.metadata.finalizers ?? [];
    const graceful = gr === "/pods" && old.spec?.nodeName && (options.gracePeriodSeconds ?? 30) > 0;
    if (finalizers.length > 0 || graceful) {
      if (old.metadata.deletionTimestamp) return { object: this.present(old, type, version), deleted: false };
      const next = clone(old);
      const grace = graceful ? (options.gracePeriodSeconds ?? next.spec?.terminationGracePeriodSeconds ?? 30) : 0;
      next.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, "Z");
      next.metadata.deletionGracePeriodSeconds = grace;
      if (type.tracksGeneration) next.metadata.generation = (next.metadata.generation ?? 0) + 1;
      const stored = this.commit(type, "MODIFIED", next, old);
      // Without a kubelet, the pod's containers "stop" at once and the kubelet's final delete follows.
      if (graceful) setTimeout(() => this.finishPodTermination(type, stored), this.podTerminationMs);
      return { object: this.present(stored, type, version), deleted: false };
    }
    if (gr === "/namespaces") this.emptyNamespace(name);
    if (gr === "apiextensions.k8s.io/customresourcedefinitions") this.unregisterCrd(old);
    const gone = this.commit(type, "DELETED", clone(old), old);
    return { object: this.present(gone, type, version), deleted: true };
  }

  /** Drops the event history: watches from any earlier resourceVersion now get 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  // ---------- internals ----------

  private finishPodTermination(type: ResourceType, expected: KubeObject): void {
    const ns = expected.metadata.namespace;
    const current = this.bucket(type).get(keyOf(ns, expected.metadata.name));
    if (!current || current.metadata.uid !== expected.metadata.uid) return;
    if ((current.metadata.finalizers ?? []).length > 0) return;
    this.commit(type, "DELETED", clone(current), current);
  }

  private emptyNamespace(ns: string): void {
    for (const t of this.types.values()) {
      if (!t.namespaced) continue;
      for (const obj of [...this.bucket(t).values()])
        if (obj.metadata.namespace === ns) this.commit(t, "DELETED", clone(obj), obj);
    }
  }

  private replace(
    type: ResourceType,
    version: string,
    old: KubeObject,
    incoming: KubeObject,
    subresource: "status" | undefined,
    opts: WriteOptions,
  ): KubeObject {
    const dryRun = opts.dryRun === true;
    let next: KubeObject;
    if (subresource === "status") {
      if (!type.statusSubresource) throw errors.pathNotFound();
      next = clone(old);
      if (incoming.status === undefined) delete next.status;
      else next.status = incoming.status;
    } else {
      next = incoming;
      if (type.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
    }
    const meta = next.metadata as KubeObject;
    meta.uid ||= old.metadata.uid;
    if (meta.uid !== old.metadata.uid)
      throw errors.invalid(type.kind, type.group, old.metadata.name, [
        { field: "metadata.uid", message: `Invalid value: "${meta.uid}": field is immutable` },
      ]);
    meta.creationTimestamp = old.metadata.creationTimestamp;
    meta.resourceVersion = old.metadata.resourceVersion;
    if (old.metadata.deletionTimestamp) {
      meta.deletionTimestamp = old.metadata.deletionTimestamp;
      meta.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
      const before = new Set<string>(old.metadata.finalizers ?? []);
      const added = (meta.finalizers ?? []).filter((f: string) => !before.has(f));
      if (added.length > 0)
        throw errors.invalid(type.kind, type.group, old.metadata.name, [
          {
            field: "metadata.finalizers",
            message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
            reason: "FieldValueForbidden",
          },
        ]);
    } else {
      delete meta.deletionTimestamp;
      delete meta.deletionGracePeriodSeconds;
    }
    delete meta.managedFields;
    if (type.tracksGeneration) {
      meta.generation = old.metadata.generation ?? 1;
      if (this.specChanged(type, old, next)) meta.generation++;
    }
    this.validateMeta(type, next, old.metadata.name);
    this.validateSchema(type, version, next, opts);
    if (groupResource(type) === "apiextensions.k8s.io/customresourcedefinitions") this.validateCrd(next);
    // Keep the stored apiVersion (conversion "None" only relabels on the way out).
    next.apiVersion = old.apiVersion;
    if (deepEqual(next, old)) return this.present(old, type, version);
    if (dryRun) return this.present(next, type, version);
    if (meta.deletionTimestamp && (meta.finalizers ?? []).length === 0) {
      if (groupResource(type) === "apiextensions.k8s.io/customresourcedefinitions") this.unregisterCrd(old);
      return this.present(this.commit(type, "DELETED", next, old), type, version);
    }
    const stored = this.commit(type, "MODIFIED", next, old);
    if (groupResource(type) === "apiextensions.k8s.io/customresourcedefinitions") this.registerCrd(stored);
    return this.present(stored, type, version);
  }

  private specChanged(type: ResourceType, old: KubeObject, next: KubeObject): boolean {
    const strip = (o: KubeObject) => {
      const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = o;
      if (type.statusSubresource) delete rest.status;
      return rest;
    };
    return !deepEqual(strip(old), strip(next));
  }

  private commit(type: ResourceType, eventType: EventType, obj: KubeObject, prev?: KubeObject): KubeObject {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    const key = keyOf(obj.metadata.namespace, obj.metadata.name);
    const gr = groupResource(type);
    if (eventType === "DELETED") this.bucket(type).delete(key);
    else this.bucket(type).set(key, obj);
    this.history.push({ rv: this.rv, gr, type: eventType, object: obj, ...(prev ? { prev } : {}) });
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const w of this.watchers) {
      if (w.gr !== gr) continue;
      const out = this.transition(w.sel, eventType, obj, prev);
      if (out) w.sink(out, this.present(obj, type, w.version));
    }
    return obj;
  }

  /** How a change looks to a filtered watch: entering the filter is ADDED, leaving it DELETED. */
  private transition(
    sel: CompiledSelection,
    type: EventType,
    obj: KubeObject,
    prev?: KubeObject,
  ): EventType | undefined {
    const now = type !== "DELETED" && this.selected(sel, obj);
    const before = prev !== undefined && this.selected(sel, prev);
    if (type === "DELETED") return this.selected(sel, obj) ? "DELETED" : undefined;
    if (now && before) return "MODIFIED";
    if (now) return "ADDED";
    if (before) return "DELETED";
    return undefined;
  }

  private selected(sel: CompiledSelection, obj: KubeObject): boolean {
    if (sel.namespace !== undefined && obj.metadata.namespace !== sel.namespace) return false;
    return matchesLabels(sel.labels, obj.metadata.labels ?? undefined) && matchesFields(sel.fields, obj);
  }

  private compile(type: ResourceType, s: Selection): CompiledSelection {
    try {
      const fields = s.fieldSelector ? parseFieldSelector(s.fieldSelector) : [];
      const allowed = new Set(["metadata.name", "metadata.namespace", ...type.fieldLabels]);
      for (const f of fields)
        if (!allowed.has(f.field)) throw new SelectorError(`field label not supported: ${f.field}`);
      const labels = s.labelSelector ? parseLabelSelector(s.labelSelector) : [];
      return { ...(type.namespaced && s.namespace ? { namespace: s.namespace } : {}), labels, fields };
    } catch (e) {
      if (e instanceof SelectorError) throw errors.badRequest(e.message);
      throw e;
    }
  }

  /** The objects of one type as they were at resourceVersion `rv` (undoing later history). */
  private stateAt(type: ResourceType, rv: number): Map<string, KubeObject> {
    const state = new Map(this.bucket(type));
    const gr = groupResource(type);
    for (let i = this.history.length - 1; i >= 0; i--) {
      const e = this.history[i]!;
      if (e.rv <= rv) break;
      if (e.gr !== gr) continue;
      const key = keyOf(e.object.metadata.namespace, e.object.metadata.name);
      if (e.prev && e.type !== "ADDED") state.set(key, e.prev);
      else state.delete(key);
    }
    return state;
  }

  private decodeContinue(token: string): { rv: number; start: string } {
    const Token = v.object({ v: v.literal("meta.k8s.io/v1"), rv: v.number(), start: v.string() });
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(token, "base64url").toString());
    } catch {
      raw = undefined;
    }
    const parsed = v.safeParse(Token, raw);
    if (!parsed.success) throw errors.badRequest(`invalid continue token`);
    if (parsed.output.rv < this.compactedRv)
      throw errors.gone(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
      );
    return parsed.output;
  }

  private parseRv(text: string): number {
    if (!/^\d+$/.test(text)) throw errors.badRequest(`invalid resource version: ${text}`);
    return Number(text);
  }

  private bucket(type: ResourceType): Map<string, KubeObject> {
    const gr = groupResource(type);
    let b = this.objects.get(gr);
    if (!b) {
      b = new Map();
      this.objects.set(gr, b);
    }
    return b;
  }

  private nsFor(type: ResourceType, namespace: string | undefined): string | undefined {
    return type.namespaced ? namespace : undefined;
  }

  /** Parses a body into a fresh object, checking apiVersion/kind against the endpoint's. */
  private decode(type: ResourceType, version: string, body: unknown): KubeObject {
    const parsed = v.safeParse(KubeObjectSchema, body);
    if (!parsed.success)
      throw errors.badRequest(
        `Object in version "${version}" cannot be handled as a ${type.kind}: ${parsed.issues.map((i) => i.message).join("; ")}`,
      );
    const obj = clone(parsed.output) as KubeObject;
    const expected = apiVersionOf(type.group, version);
    if (obj.kind !== undefined && obj.kind !== type.kind)
      throw errors.badRequest(
        `${obj.kind} in version "${version}" cannot be handled as a ${type.kind}: no kind "${obj.kind}" is registered for version "${expected}"`,
      );
    if (
      obj.apiVersion !== undefined &&
      obj.apiVersion !== expected &&
      !(
        type.group !== "" &&
        obj.apiVersion.startsWith(`${type.group}/`) &&
        type.versions.includes(obj.apiVersion.slice(type.group.length + 1))
      )
    )
      throw errors.badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${expected})`,
      );
    obj.apiVersion = expected;
    obj.kind = type.kind;
    obj.metadata = obj.metadata ?? {};
    for (const k of ["labels", "annotations", "finalizers"]) if (obj.metadata[k] === null) delete obj.metadata[k];
    return obj;
  }

  private validateMeta(type: ResourceType, obj: KubeObject, name: string | undefined): void {
    const meta = obj.metadata;
    const kind = type.kind;
    if (!name)
      throw errors.invalid(kind, type.group, "", [
        {
          field: "metadata.name",
          message: "Required value: name or generateName is required",
          reason: "FieldValueRequired",
        },
      ]);
    const pattern = type.plural === "namespaces" ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
    const max = type.plural === "namespaces" ? 63 : 253;
    if (!pattern.test(name) || name.length > max)
      throw errors.invalid(kind, type.group, name, [
        {
          field: "metadata.name",
          message: `Invalid value: "${name}": a lowercase RFC 1123 ${type.plural === "namespaces" ? "label" : "subdomain"} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
        },
      ]);
    for (const [k, val] of Object.entries((meta.labels ?? {}) as Record<string, string>)) {
      const issues = parseLabelCheck(k, val);
      if (issues) throw errors.invalid(kind, type.group, name, [{ field: "metadata.labels", message: issues }]);
    }
    if (groupResource(type) === "/pods") {
      const containers = obj.spec?.containers;
      if (!Array.isArray(containers) || containers.length === 0)
        throw errors.invalid(kind, type.group, name, [
          { field: "spec.containers", message: "Required value", reason: "FieldValueRequired" },
        ]);
      containers.forEach((c: KubeObject, i: number) => {
        if (!c?.name)
          throw errors.invalid(kind, type.group, name, [
            { field: `spec.containers[${i}].name`, message: "Required value", reason: "FieldValueRequired" },
          ]);
        if (!c?.image)
          throw errors.invalid(kind, type.group, name, [
            { field: `spec.containers[${i}].image`, message: "Required value", reason: "FieldValueRequired" },
          ]);
      });
    }
  }

  private validateSchema(type: ResourceType, version: string, obj: KubeObject, opts: WriteOptions): void {
    const schema = type.schemas[version];
    if (schema === undefined) return;
    const { problems, pruned } = validateAndPrune(schema, obj);
    const mode = opts.fieldValidation ?? "Warn";
    if (pruned.length > 0 && mode === "Strict")
      throw errors.badRequest(`strict decoding error: ${pruned.map((f) => `unknown field "${f}"`).join(", ")}`);
    if (mode === "Warn") for (const f of pruned) opts.warnings?.push(`unknown field "${f}"`);
    if (problems.length > 0) throw errors.invalid(type.kind, type.group, obj.metadata.name, problems);
  }

  private prepareCreate(type: ResourceType, version: string, obj: KubeObject, opts: WriteOptions): void {
    const gr = groupResource(type);
    if (type.statusSubresource && gr !== "/pods" && gr !== "/nodes") delete obj.status;
    if (gr === "/pods") {
      obj.spec.restartPolicy ??= "Always";
      obj.spec.terminationGracePeriodSeconds ??= 30;
      obj.status = { phase: "Pending", ...(obj.status ?? {}) };
    }
    if (gr === "/namespaces") {
      obj.spec = { finalizers: ["kubernetes"], ...(obj.spec ?? {}) };
      obj.status = { phase: "Active" };
    }
    if (gr === "/secrets") obj.type ??= "Opaque";
    if (gr === "apiextensions.k8s.io/customresourcedefinitions") {
      this.validateCrd(obj);
      const spec = obj.spec;
      obj.status = {
        conditions: [
          {
            type: "NamesAccepted",
            status: "True",
            lastTransitionTime: now(),
            reason: "NoConflicts",
            message: "no conflicts found",
          },
          {
            type: "Established",
            status: "True",
            lastTransitionTime: now(),
            reason: "InitialNamesAccepted",
            message: "the initial names have been accepted",
          },
        ],
        acceptedNames: {
          ...spec.names,
          singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
          listKind: spec.names.listKind ?? `${spec.names.kind}List`,
        },
        storedVersions: spec.versions.filter((x: KubeObject) => x.storage).map((x: KubeObject) => x.name),
      };
    }
    this.validateSchema(type, version, obj, opts);
  }

  private validateCrd(obj: KubeObject): void {
    const name = obj.metadata.name ?? "";
    const parsed = v.safeParse(CrdSpecSchema, obj.spec);
    if (!parsed.success)
      throw errors.invalid(
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        name,
        issuesText(parsed.issues).map((i) => ({ field: `spec.${i.field}`, message: i.message })),
      );
    const spec = parsed.output;
    const problems: Array<{ field: string; message: string }> = [];
    if (name !== `${spec.names.plural}.${spec.group}`)
      problems.push({
        field: "metadata.name",
        message: `Invalid value: "${name}": must be spec.names.plural+"."+spec.group`,
      });
    if (spec.versions.filter((x) => x.storage).length !== 1)
      problems.push({
        field: "spec.versions",
        message: "Invalid value: must have exactly one version marked as storage version",
      });
    for (const [i, ver] of spec.versions.entries())
      if (ver.schema?.openAPIV3Schema === undefined)
        problems.push({
          field: `spec.versions[${i}].schema.openAPIV3Schema`,
          message: "Required value: schemas are required",
        });
    const clash = this.types.get(`${spec.group}/${spec.names.plural}`);
    if (clash && BUILTIN_TYPES.includes(clash))
      problems.push({ field: "spec.names.plural", message: "Invalid value: conflicts with a built-in resource" });
    if (problems.length > 0) throw errors.invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, problems);
  }

  private registerCrd(crd: KubeObject): void {
    const parsed = v.parse(CrdSpecSchema, crd.spec);
    this.types.set(`${parsed.group}/${parsed.names.plural}`, typeFromCrd({ spec: parsed }));
  }

  private unregisterCrd(crd: KubeObject): void {
    const parsed = v.parse(CrdSpecSchema, crd.spec);
    const gr = `${parsed.group}/${parsed.names.plural}`;
    const type = this.types.get(gr);
    if (!type) return;
    for (const obj of [...this.bucket(type).values()]) this.commit(type, "DELETED", clone(obj), obj);
    this.types.delete(gr);
    this.objects.delete(gr);
  }

  private generateName(type: ResourceType, ns: string | undefined, prefix: string): string {
    for (let attempt = 0; attempt < 8; attempt++) {
      let suffix = "";
      for (let i = 0; i < 5; i++) suffix += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
      const name = `${prefix.slice(0, 58)}${suffix}`;
      if (!this.bucket(type).has(keyOf(ns, name))) return name;
    }
    throw errors.alreadyExists(type, prefix);
  }

  /** The object as served at `version`: a copy, apiVersion relabelled, kind/apiVersion/metadata first. */
  present(obj: KubeObject, type: ResourceType, version: string): KubeObject {
    const { apiVersion: _a, kind: _k, metadata, ...rest } = clone(obj);
    return { kind: type.kind, apiVersion: apiVersionOf(type.group, version), metadata, ...rest };
  }
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function parseLabelCheck(key: string, value: unknown): string | undefined {
  if (!LABEL_KEY.test(key))
    return `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.'`;
  if (typeof value !== "string" || !LABEL_VALUE.test(value))
    return `Invalid value: "${String(value)}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
  return undefined;
}
