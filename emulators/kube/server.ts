// HTTP front of the emulator: routes Kubernetes REST paths onto the Cluster, streams watches as
// JSON lines, serves discovery, authenticates (https: client certificate or bearer token) and applies
// the test's fault injection (failures, latency, dropped watches).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import * as v from "valibot";
import type { Cluster, EventType, KubeObject, PatchType } from "./cluster.ts";
import { apiGroup, apiGroupList, apiVersions, resourceList, SERVER_VERSION } from "./discovery.ts";
import { openApiDocument, openApiGroupVersions, openApiIndex } from "./openapi.ts";
import { apiVersionOf, type ResourceType } from "./resources.ts";
import { ApiError, errors, statusForCode } from "./status.ts";
import { toTable } from "./table.ts";
import { DeleteOptionsSchema } from "./wire.ts";

export interface FaultRule {
  method?: string;
  pathIncludes?: string;
  status: number;
  remaining: number;
}

export interface ServerState {
  cluster: Cluster;
  tls: boolean;
  bearerToken: string;
  serverAddress: string;
  latencyMs: number;
  bookmarkIntervalMs: number;
  faults: FaultRule[];
  log: Array<{ method: string; path: string; status: number }>;
  openWatches: Set<() => void>;
}

const MAX_BODY = 3 * 1024 * 1024;
const PUBLIC_PATHS = new Set(["/version", "/healthz", "/livez", "/readyz"]);

interface Route {
  type: ResourceType;
  version: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY)
        reject(new ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`error decoding body: ${(e as Error).message}`);
  }
}

/** Splits /api/v1/... and /apis/<g>/<v>/... into the resource they address. */
function route(cluster: Cluster, parts: string[]): Route | undefined {
  let group: string;
  let rest: string[];
  if (parts[0] === "api") {
    group = "";
    rest = parts.slice(1);
  } else {
    group = parts[1] ?? "";
    rest = parts.slice(2);
  }
  const version = rest[0];
  if (!version) return undefined;
  let segs = rest.slice(1);
  let namespace: string | undefined;
  if (segs[0] === "namespaces" && segs.length >= 3 && segs[2] !== "status" && segs[2] !== "finalize") {
    namespace = segs[1];
    segs = segs.slice(2);
  }
  const [plural, name, subresource, ...extra] = segs;
  if (!plural || extra.length > 0) return undefined;
  const type = cluster.typeFor(group, version, plural);
  if (!type) return undefined;
  if (namespace !== undefined && !type.namespaced) return undefined;
  return {
    type,
    version,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(subresource !== undefined ? { subresource } : {}),
  };
}

function wantsTable(req: IncomingMessage): boolean {
  return /as=Table/.test(req.headers.accept ?? "");
}

function patchTypeOf(contentType: string): PatchType | "apply" | undefined {
  const ct = contentType.split(";")[0]!.trim().toLowerCase();
  if (ct === "application/merge-patch+json") return "merge";
  if (ct === "application/json-patch+json") return "json";
  if (ct === "application/strategic-merge-patch+json") return "strategic";
  if (ct === "application/apply-patch+yaml" || ct === "application/apply-patch+cbor") return "apply";
  return undefined;
}

function requireJson(req: IncomingMessage): void {
  const ct = (req.headers["content-type"] ?? "application/json").split(";")[0]!.trim().toLowerCase();
  if (ct !== "application/json" && ct !== "")
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got ${ct}`,
    );
}

function isAuthenticated(state: ServerState, req: IncomingMessage): boolean {
  if (!state.tls) return true;
  if ((req.socket as TLSSocket).authorized === true) return true;
  const auth = req.headers.authorization ?? "";
  return auth === `Bearer ${state.bearerToken}`;
}

function takeFault(state: ServerState, method: string, path: string): FaultRule | undefined {
  const rule = state.faults.find(
    (f) =>
      f.remaining > 0 &&
      (!f.method || f.method.toUpperCase() === method) &&
      (!f.pathIncludes || path.includes(f.pathIncludes)),
  );
  if (!rule) return undefined;
  rule.remaining--;
  if (rule.remaining === 0) state.faults.splice(state.faults.indexOf(rule), 1);
  return rule;
}

const BoolParam = v.optional(v.picklist(["true", "false", "1", "0"]));
const IntParam = v.optional(v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number)));
const QuerySchema = v.looseObject({
  watch: BoolParam,
  allowWatchBookmarks: BoolParam,
  sendInitialEvents: BoolParam,
  timeoutSeconds: IntParam,
  limit: IntParam,
  gracePeriodSeconds: IntParam,
  labelSelector: v.optional(v.string()),
  fieldSelector: v.optional(v.string()),
  resourceVersion: v.optional(v.string()),
  resourceVersionMatch: v.optional(v.string()),
  continue: v.optional(v.string()),
  propagationPolicy: v.optional(v.picklist(["Orphan", "Background", "Foreground"])),
  dryRun: v.optional(v.string()),
  fieldValidation: v.optional(v.picklist(["Strict", "Warn", "Ignore"])),
  includeObject: v.optional(v.picklist(["None", "Metadata", "Object"])),
});
type Query = v.InferOutput<typeof QuerySchema>;

function parseQuery(url: URL): Query {
  const parsed = v.safeParse(QuerySchema, Object.fromEntries(url.searchParams));
  if (!parsed.success)
    throw errors.badRequest(
      `invalid query parameter: ${parsed.issues.map((i) => `${v.getDotPath(i)}: ${i.message}`).join("; ")}`,
    );
  return parsed.output;
}

const truthy = (x: string | undefined) => x === "true" || x === "1";

export function createHandler(state: ServerState) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.method ?? "GET").toUpperCase();
    const rawPath = req.url ?? "/";
    const entry = { method, path: rawPath, status: 0 };
    state.log.push(entry);
    res.on("finish", () => {
      entry.status = res.statusCode;
    });
    entry.status = 200;
    try {
      if (state.latencyMs > 0) await new Promise((r) => setTimeout(r, state.latencyMs));
      const url = new URL(rawPath, "http://emulator");
      if (!PUBLIC_PATHS.has(url.pathname) && !isAuthenticated(state, req)) throw errors.unauthorized();
      const fault = takeFault(state, method, rawPath);
      if (fault) throw statusForCode(fault.status);
      await dispatch(state, req, res, url, method);
    } catch (e) {
      const err =
        e instanceof ApiError
          ? e
          : new ApiError(500, "InternalError", `Internal error occurred: ${(e as Error).message}`);
      entry.status = err.code;
      if (!res.headersSent) send(res, err.code, err.status);
      else res.end();
    }
  };
}

async function dispatch(
  state: ServerState,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  method: string,
): Promise<void> {
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const { cluster } = state;
  if (method === "GET") {
    if (path === "/version") return send(res, 200, SERVER_VERSION);
    if (path === "/healthz" || path === "/livez" || path === "/readyz") {
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("ok");
      return;
    }
    if (path === "/api") return send(res, 200, apiVersions(state.serverAddress));
    if (path === "/openapi/v3") return send(res, 200, openApiIndex(cluster.allTypes()));
    if (path.startsWith("/openapi/v3/")) {
      const types = openApiGroupVersions(cluster.allTypes()).get(path.slice("/openapi/v3/".length));
      if (!types) throw errors.pathNotFound();
      return send(res, 200, openApiDocument(path.slice("/openapi/v3/".length), types));
    }
    if (path === "/api/v1")
      return send(
        res,
        200,
        resourceList(
          "v1",
          cluster.allTypes().filter((t) => t.group === ""),
        ),
      );
    if (path === "/apis") return send(res, 200, apiGroupList(cluster.allTypes()));
    const g = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (g) {
      const types = cluster.allTypes().filter((t) => t.group === g[1]);
      if (g[2] === undefined) {
        if (types.length === 0) throw errors.pathNotFound();
        return send(res, 200, apiGroup(g[1]!, types));
      }
      const served = types.filter((t) => t.versions.includes(g[2]!));
      if (served.length === 0) throw errors.pathNotFound();
      return send(res, 200, resourceList(`${g[1]}/${g[2]}`, served));
    }
  }
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== "api" && parts[0] !== "apis") throw errors.pathNotFound();
  const r = route(cluster, parts);
  if (!r) throw errors.pathNotFound();
  if (r.subresource !== undefined && !(r.subresource === "status" && r.type.statusSubresource))
    throw errors.pathNotFound();
  const sub = r.subresource === "status" ? ("status" as const) : undefined;
  const q = parseQuery(url);
  const warnings: string[] = [];
  const writeOpts = {
    dryRun: q.dryRun === "All",
    ...(q.fieldValidation ? { fieldValidation: q.fieldValidation } : {}),
    warnings,
  };
  const reply = (status: number, body: unknown) => {
    // RFC 7234 Warning headers, as the real server sends for pruned unknown fields.
    if (warnings.length > 0)
      res.setHeader(
        "Warning",
        warnings.map((w) => `299 - ${JSON.stringify(w)}`),
      );
    send(res, status, body);
  };
  const { type, version, namespace, name } = r;
  const ns = type.namespaced ? namespace : undefined;

  if (name === undefined) {
    if (sub) throw errors.pathNotFound();
    if (method === "GET") {
      const selection = {
        ...(ns !== undefined ? { namespace: ns } : {}),
        ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
        ...(q.fieldSelector !== undefined ? { fieldSelector: q.fieldSelector } : {}),
      };
      if (truthy(q.watch)) return serveWatch(state, req, res, type, version, selection, q);
      const listed = cluster.list(type, version, {
        ...selection,
        ...(q.resourceVersion !== undefined ? { resourceVersion: q.resourceVersion } : {}),
        ...(q.resourceVersionMatch !== undefined ? { resourceVersionMatch: q.resourceVersionMatch } : {}),
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
        ...(q.continue !== undefined ? { continue: q.continue } : {}),
      });
      const listMeta = {
        resourceVersion: listed.resourceVersion,
        ...(listed.continue ? { continue: listed.continue, remainingItemCount: listed.remainingItemCount } : {}),
      };
      if (wantsTable(req))
        return send(res, 200, toTable(type, version, listed.items, listMeta, q.includeObject ?? "Metadata"));
      return send(res, 200, {
        kind: `${type.kind}List`,
        apiVersion: apiVersionOf(type.group, version),
        metadata: listMeta,
        items: listed.items,
      });
    }
    if (method === "POST") {
      requireJson(req);
      const body = parseJson(await readBody(req));
      return reply(201, cluster.create(type, version, ns, body, writeOpts));
    }
    if (method === "DELETE") {
      const listed = cluster.list(type, version, {
        ...(ns !== undefined ? { namespace: ns } : {}),
        ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
        ...(q.fieldSelector !== undefined ? { fieldSelector: q.fieldSelector } : {}),
      });
      const options = await deleteOptions(req, q);
      const items = listed.items.map(
        (o) => cluster.delete(type, version, o.metadata.namespace, o.metadata.name, options).object,
      );
      return send(res, 200, {
        kind: `${type.kind}List`,
        apiVersion: apiVersionOf(type.group, version),
        metadata: { resourceVersion: String(cluster.resourceVersion) },
        items,
      });
    }
    throw errors.methodNotAllowed();
  }

  switch (method) {
    case "GET": {
      if (truthy(q.watch)) {
        const fieldSelector = [`metadata.name=${name}`, q.fieldSelector].filter(Boolean).join(",");
        return serveWatch(
          state,
          req,
          res,
          type,
          version,
          {
            ...(ns !== undefined ? { namespace: ns } : {}),
            fieldSelector,
            ...(q.labelSelector ? { labelSelector: q.labelSelector } : {}),
          },
          q,
        );
      }
      const obj = cluster.get(type, version, ns, name);
      if (wantsTable(req))
        return send(
          res,
          200,
          toTable(
            type,
            version,
            [obj],
            { resourceVersion: obj.metadata.resourceVersion },
            q.includeObject ?? "Metadata",
          ),
        );
      return send(res, 200, obj);
    }
    case "PUT": {
      requireJson(req);
      const body = parseJson(await readBody(req));
      const existed = cluster.has(type, ns, name);
      const updated = cluster.update(type, version, ns, name, body, sub, writeOpts);
      return reply(existed ? 200 : 201, updated);
    }
    case "PATCH": {
      const patchType = patchTypeOf(req.headers["content-type"] ?? "");
      if (patchType === undefined || patchType === "apply")
        throw errors.unsupportedMediaType(req.headers["content-type"] ?? "");
      if (patchType === "strategic" && !type.strategicMerge)
        throw new ApiError(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/apply-patch+cbor`,
        );
      const body = parseJson(await readBody(req));
      return reply(200, cluster.patch(type, version, ns, name, patchType, body, sub, writeOpts));
    }
    case "DELETE": {
      if (sub) throw errors.methodNotAllowed();
      const options = await deleteOptions(req, q);
      const { object, deleted } = cluster.delete(type, version, ns, name, options);
      if (
        deleted &&
        !(type.group === "" && (type.plural === "pods" || type.plural === "namespaces")) &&
        type.group !== "apiextensions.k8s.io" &&
        !type.schemas[version]
      )
        return send(res, 200, {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Success",
          details: { name, ...(type.group ? { group: type.group } : {}), kind: type.plural, uid: object.metadata.uid },
        });
      return send(res, 200, object);
    }
    default:
      throw errors.methodNotAllowed();
  }
}

async function deleteOptions(req: IncomingMessage, q: Query) {
  const text = await readBody(req);
  const raw = text.trim() === "" ? {} : parseJson(text);
  const parsed = v.safeParse(DeleteOptionsSchema, raw);
  if (!parsed.success)
    throw errors.badRequest(`invalid DeleteOptions: ${parsed.issues.map((i) => i.message).join("; ")}`);
  return {
    ...parsed.output,
    ...(q.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: q.gracePeriodSeconds } : {}),
    ...(q.propagationPolicy !== undefined ? { propagationPolicy: q.propagationPolicy } : {}),
    ...(q.dryRun === "All" ? { dryRun: ["All"] } : {}),
  };
}

function serveWatch(
  state: ServerState,
  req: IncomingMessage,
  res: ServerResponse,
  type: ResourceType,
  version: string,
  selection: { namespace?: string; labelSelector?: string; fieldSelector?: string },
  q: Query,
): void {
  const table = wantsTable(req);
  const frame = (eventType: string, object: KubeObject) => {
    const body =
      table && eventType !== "BOOKMARK" && eventType !== "ERROR"
        ? toTable(
            type,
            version,
            [object],
            { resourceVersion: object.metadata.resourceVersion },
            q.includeObject ?? "Metadata",
          )
        : object;
    res.write(`${JSON.stringify({ type: eventType, object: body })}\n`);
  };
  const bookmark = (annotations?: Record<string, string>) =>
    frame("BOOKMARK", {
      kind: type.kind,
      apiVersion: apiVersionOf(type.group, version),
      metadata: { resourceVersion: String(state.cluster.resourceVersion), ...(annotations ? { annotations } : {}) },
    });
  let handle: ReturnType<Cluster["watch"]> | undefined;
  let open = true;
  const pending: Array<{ type: EventType; object: KubeObject }> = [];
  const sendInitial = q.sendInitialEvents === undefined ? undefined : truthy(q.sendInitialEvents);
  try {
    handle = state.cluster.watch(
      type,
      version,
      {
        ...selection,
        ...(q.resourceVersion !== undefined ? { resourceVersion: q.resourceVersion } : {}),
        ...(sendInitial !== undefined ? { sendInitialEvents: sendInitial } : {}),
      },
      (t, o) => {
        if (!open) return;
        pending.push({ type: t, object: o });
        flush();
      },
    );
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== 410) throw e;
    // Like the real server: the watch is accepted, then a single ERROR event carries the 410 Status.
    res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
    frame("ERROR", e.status as unknown as KubeObject);
    res.end();
    return;
  }
  const flush = () => {
    while (pending.length > 0 && open) {
      const next = pending.shift()!;
      frame(next.type, next.object);
    }
  };
  res.writeHead(200, {
    "Content-Type": "application/json",
    "Transfer-Encoding": "chunked",
    "Cache-Control": "no-cache",
  });
  res.flushHeaders();
  for (const e of handle.initial) frame(e.type, e.object);
  if (sendInitial && truthy(q.allowWatchBookmarks)) bookmark({ "k8s.io/initial-events-end": "true" });
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  const close = () => {
    if (!open) return;
    open = false;
    handle?.cancel();
    for (const t of timers) clearTimeout(t);
    state.openWatches.delete(close);
    res.end();
  };
  state.openWatches.add(close);
  if (truthy(q.allowWatchBookmarks)) {
    const tick = setInterval(() => open && bookmark(), state.bookmarkIntervalMs);
    timers.push(tick as unknown as ReturnType<typeof setTimeout>);
  }
  const timeoutSeconds = q.timeoutSeconds ?? 1800;
  timers.push(setTimeout(close, timeoutSeconds * 1000));
  req.on("close", close);
  res.on("close", close);
}
