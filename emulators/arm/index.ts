// ARM emulator: VM and VMSS GET / PATCH of `identity` as Microsoft.Compute answers them, with the
// long-running-operation protocol @azure/arm-compute (core-lro) follows: PATCH → 200 +
// Azure-AsyncOperation, the operation resource reports InProgress → Succeeded, and the new identity
// is visible on the VM only once the operation completed. Faults (latency, 429, denied or missing
// identities, Deleting) are injected through the programmatic API.
import { decodeJwt } from "jose";
import * as v from "valibot";
import type { TokenIssuer } from "../common/jwt.ts";
import {
  type ArmError,
  armErrorBody,
  identityNotFound,
  invalidApiVersion,
  invalidAuthorization,
  invalidIdentityValues,
  invalidParameter,
  linkedAuthorizationFailed,
  markedForDeletion,
  missingApiVersion,
  missingAuthorization,
  resourceNotFound,
  throttled,
  tooManyIdentities,
} from "./errors.ts";
import {
  deltaProblem,
  type IdentityDelta,
  type IdentityState,
  type IdentityType,
  identityType,
  parseIdentityType,
  resultingUserIds,
  type UserAssignedRef,
} from "./identity-model.ts";
import {
  type ComputeKind,
  type ComputeResourceId,
  deterministicGuid,
  isUserAssignedIdentityId,
  normaliseId,
  parseComputeId,
} from "./resource-id.ts";

export { decodeClaims } from "../common/jwt.ts";

/** ARM's per-request cap on user-assigned identities (issue aad-pod-identity#813). */
export const MAX_IDENTITIES_PER_REQUEST = 150;

export interface ArmCall {
  method: string;
  path: string;
  status: number;
  resourceId?: string;
  at: number;
}

/** What IMDS on a VM (or VMSS instance) needs to know; served at `GET /_emulator/imds-view?resourceId=`. */
export interface ImdsView {
  resourceId: string;
  kind: ComputeKind;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  vmId: string;
  tenantId: string;
  provisioningState: string;
  system?: { principalId: string; clientId: string; assignedAt: number };
  user: Array<{ resourceId: string; clientId: string; principalId: string; assignedAt: number }>;
}

export interface ArmEmulator {
  url: string;
  tenantId: string;
  addUserAssignedIdentity(resourceId: string): { clientId: string; principalId: string };
  addVm(resourceId: string, opts?: { systemAssigned?: boolean; userAssigned?: string[] }): void;
  addVmss(resourceId: string, opts?: { systemAssigned?: boolean; userAssigned?: string[] }): void;
  identityOf(
    resourceId: string,
  ): { type: string; userAssignedIdentities: Record<string, { clientId: string; principalId: string }> } | undefined;
  imdsView(resourceId: string): ImdsView | undefined;
  setLatency(op: "get" | "patch" | "lro", ms: number, resourceId?: string): void;
  throttleNext(resourceId: string, retryAfterSeconds: number, times?: number): void;
  setWriteRateLimit(perMinute: number): void;
  denyIdentity(identityResourceId: string, reason: "LinkedAuthorizationFailed"): void;
  setProvisioningState(resourceId: string, state: string): void;
  calls(): ArmCall[];
  stop(): Promise<void>;
}

export interface ArmEmulatorOptions {
  tls?: { certPem: string; keyPem: string };
  tenantId?: string;
  /** Verify bearer tokens against this issuer; by default any non-empty bearer token is accepted. */
  verifyTokensWith?: TokenIssuer;
  host?: string;
  port?: number;
}

interface ComputeResource {
  id: ComputeResourceId;
  location: string;
  vmId: string;
  identity: IdentityState;
  provisioningState: string;
  pendingOperations: number;
  systemGeneration: number;
}

interface Operation {
  name: string;
  status: "InProgress" | "Succeeded" | "Failed";
  startTime: string;
  endTime?: string;
}

const PatchBody = v.object({
  identity: v.optional(
    v.nullable(
      v.object({
        type: v.optional(v.string()),
        userAssignedIdentities: v.optional(
          v.nullable(v.record(v.string(), v.nullable(v.record(v.string(), v.unknown())))),
        ),
      }),
    ),
  ),
});

const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;
const LOCATION = "westus2";

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

function callerOf(authorization: string): { clientId: string; objectId: string } {
  const unknown = "00000000-0000-0000-0000-000000000000";
  try {
    const claims = decodeJwt(authorization.replace(/^bearer\s+/i, ""));
    return {
      clientId: typeof claims.appid === "string" ? claims.appid : unknown,
      objectId: typeof claims.oid === "string" ? claims.oid : unknown,
    };
  } catch {
    return { clientId: unknown, objectId: unknown };
  }
}

export async function startArmEmulator(opts: ArmEmulatorOptions = {}): Promise<ArmEmulator> {
  const tenantId = opts.tenantId ?? deterministicGuid("arm-emulator-tenant");
  const resources = new Map<string, ComputeResource>();
  const catalogue = new Map<string, { resourceId: string; clientId: string; principalId: string }>();
  const denied = new Set<string>();
  const latency = new Map<string, number>();
  const throttles = new Map<string, { retryAfterSeconds: number; remaining: number }>();
  const writes = new Map<string, number[]>();
  let writeLimitPerMinute = Number.POSITIVE_INFINITY;
  const operations = new Map<string, Operation>();
  const callLog: ArmCall[] = [];
  let operationCounter = 0;

  const latencyFor = (op: "get" | "patch" | "lro", key?: string) =>
    (key !== undefined ? latency.get(`${op}|${key}`) : undefined) ?? latency.get(op) ?? 0;

  function requireCompute(resourceId: string): ComputeResource {
    const parsed = parseComputeId(resourceId);
    const found = parsed && resources.get(normaliseId(parsed.id));
    if (!found) throw new Error(`unknown VM/VMSS ${resourceId}`);
    return found;
  }

  function addCompute(
    kind: ComputeKind,
    resourceId: string,
    seed?: { systemAssigned?: boolean; userAssigned?: string[] },
  ) {
    const parsed = parseComputeId(resourceId);
    if (!parsed || parsed.kind !== kind) throw new Error(`not a ${kind} resource ID: ${resourceId}`);
    const resource: ComputeResource = {
      id: parsed,
      location: LOCATION,
      vmId: deterministicGuid("vmId", normaliseId(parsed.id)),
      identity: { user: new Map() },
      provisioningState: "Succeeded",
      pendingOperations: 0,
      systemGeneration: 0,
    };
    if (seed?.systemAssigned) enableSystem(resource, 0);
    for (const uid of seed?.userAssigned ?? []) {
      const entry = catalogue.get(normaliseId(uid)) ?? { resourceId: uid, ...emulator.addUserAssignedIdentity(uid) };
      resource.identity.user.set(normaliseId(uid), { ...entry, resourceId: uid, assignedAt: 0 });
    }
    resources.set(normaliseId(parsed.id), resource);
  }

  function enableSystem(resource: ComputeResource, at: number) {
    resource.systemGeneration += 1;
    const seed = `${normaliseId(resource.id.id)}#${resource.systemGeneration}`;
    resource.identity.system = {
      principalId: deterministicGuid("system-principal", seed),
      clientId: deterministicGuid("system-client", seed),
      assignedAt: at,
    };
  }

  function identityJson(resource: ComputeResource, state: IdentityState = resource.identity) {
    const type = identityType(state);
    if (type === "None") return undefined;
    const body: Record<string, unknown> = { type };
    if (state.system) {
      body.principalId = state.system.principalId;
      body.tenantId = tenantId;
    }
    if (state.user.size > 0) {
      body.userAssignedIdentities = Object.fromEntries(
        [...state.user.values()].map((u) => [u.resourceId, { principalId: u.principalId, clientId: u.clientId }]),
      );
    }
    return body;
  }

  function resourceJson(resource: ComputeResource, state?: IdentityState) {
    const { id } = resource;
    const identity = identityJson(resource, state);
    const common = { name: id.name, id: id.id, type: `Microsoft.Compute/${id.kind}`, location: resource.location };
    const properties =
      id.kind === "virtualMachines"
        ? {
            vmId: resource.vmId,
            hardwareProfile: { vmSize: "Standard_D2s_v3" },
            provisioningState: resource.provisioningState,
          }
        : {
            uniqueId: resource.vmId,
            orchestrationMode: "Uniform",
            upgradePolicy: { mode: "Manual" },
            provisioningState: resource.provisioningState,
          };
    return {
      ...common,
      ...(id.kind === "virtualMachineScaleSets"
        ? { sku: { name: "Standard_D2s_v3", tier: "Standard", capacity: 3 } }
        : {}),
      ...(identity ? { identity } : {}),
      properties,
    };
  }

  /** Applies an identity delta to a resource's current state (at operation completion). */
  function applyDelta(resource: ComputeResource, delta: IdentityDelta, at: number) {
    const next = resultingUserIds(resource.identity, delta);
    const user = new Map<string, UserAssignedRef>();
    for (const [key, spelling] of next) {
      const existing = resource.identity.user.get(key);
      const entry = catalogue.get(key);
      if (existing) user.set(key, existing);
      else if (entry) user.set(key, { ...entry, resourceId: spelling, assignedAt: at });
    }
    resource.identity.user = user;
    const wantsSystem = delta.type.startsWith("SystemAssigned");
    if (wantsSystem && !resource.identity.system) enableSystem(resource, at);
    if (!wantsSystem) resource.identity.system = undefined;
  }

  function projected(resource: ComputeResource, delta: IdentityDelta): IdentityState {
    const copy: ComputeResource = {
      ...resource,
      identity: { system: resource.identity.system, user: new Map(resource.identity.user) },
    };
    applyDelta(copy, delta, Date.now());
    return copy.identity;
  }

  /** Validates a PATCH body's identity block; returns the delta or an ARM error. */
  function planIdentity(
    resource: ComputeResource,
    identity: v.InferOutput<typeof PatchBody>["identity"],
    caller: string,
  ): IdentityDelta | ArmError {
    const currentType = identityType(resource.identity);
    const entries = Object.entries(identity?.userAssignedIdentities ?? {});
    const changes = new Map<string, { spelling: string; add: boolean }>();
    for (const [spelling, value] of entries) changes.set(normaliseId(spelling), { spelling, add: value !== null });

    let type: IdentityType;
    if (identity?.type !== undefined) {
      const parsed = parseIdentityType(identity.type);
      if (!parsed) {
        return invalidParameter(
          "identity.type",
          `The value '${identity.type}' of parameter 'identity.type' is invalid. Allowed values are 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned', 'None'.`,
        );
      }
      type = parsed;
    } else {
      // No type: keep the current one, adding UserAssigned when identities are being added.
      const adds = [...changes.values()].some((c) => c.add);
      const system = currentType.startsWith("SystemAssigned");
      type =
        adds || currentType.includes("UserAssigned")
          ? system
            ? "SystemAssigned, UserAssigned"
            : "UserAssigned"
          : currentType;
    }

    if (entries.length > MAX_IDENTITIES_PER_REQUEST)
      return tooManyIdentities(resource.id.id, entries.length, MAX_IDENTITIES_PER_REQUEST);

    const badValues = entries
      .filter(([spelling, value]) => {
        if (value === null || Object.keys(value).length === 0) return false;
        const existing = resource.identity.user.get(normaliseId(spelling));
        return (
          !existing ||
          Object.entries(value).some(([k, val]) => (existing as unknown as Record<string, unknown>)[k] !== val)
        );
      })
      .map(([spelling]) => spelling);
    if (badValues.length > 0) return invalidIdentityValues(badValues);

    const adds = entries.filter(([, value]) => value !== null).map(([spelling]) => spelling);
    const deniedIds = adds.filter((id) => denied.has(normaliseId(id)));
    if (deniedIds.length > 0) {
      return linkedAuthorizationFailed(callerOf(caller), resource.id.kind, resource.id.id, deniedIds);
    }
    const missing = adds.find((id) => !isUserAssignedIdentityId(id) || !catalogue.has(normaliseId(id)));
    if (missing !== undefined) return identityNotFound(resource.id.id, missing);

    const delta: IdentityDelta = { type, changes };
    const problem = deltaProblem(resource.identity, delta);
    if (problem?.kind === "typeNeedsUserIdentities") {
      return invalidParameter(
        "identity",
        `The identity type '${type}' requires at least one user assigned identity in 'userAssignedIdentities'.`,
      );
    }
    if (problem?.kind === "userIdentitiesWithoutUserType") {
      return invalidParameter(
        "identity",
        `User assigned identities can only be specified with identity type 'UserAssigned' or 'SystemAssigned, UserAssigned'; the type is '${type}'.`,
      );
    }
    return delta;
  }

  function writeRetryAfter(key: string, now: number): number | undefined {
    const recent = (writes.get(key) ?? []).filter((t) => now - t < 60_000);
    writes.set(key, recent);
    if (recent.length < writeLimitPerMinute) return undefined;
    const oldest = recent[0] ?? now;
    return Math.max(1, Math.ceil((oldest + 60_000 - now) / 1000));
  }

  async function handle(req: Request): Promise<{ response: Response; resourceId?: string }> {
    const url = new URL(req.url);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      new Response(JSON.stringify(body), {
        status,
        headers: {
          "content-type": "application/json; charset=utf-8",
          "x-ms-request-id": crypto.randomUUID(),
          ...headers,
        },
      });
    const fail = (e: ArmError, headers: Record<string, string> = {}) => json(e.status, armErrorBody(e), headers);

    if (url.pathname === "/_emulator/imds-view") {
      const view = emulator.imdsView(url.searchParams.get("resourceId") ?? "");
      return { response: view ? json(200, view) : json(404, { error: "unknown resource" }) };
    }

    const authorization = req.headers.get("authorization") ?? "";
    if (authorization === "") return { response: fail(missingAuthorization) };
    const bearer = /^bearer\s+(\S+)$/i.exec(authorization)?.[1];
    if (!bearer) return { response: fail(invalidAuthorization) };
    if (opts.verifyTokensWith) {
      try {
        await opts.verifyTokensWith.verify(bearer);
      } catch {
        return { response: fail(invalidAuthorization) };
      }
    }
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion) return { response: fail(missingApiVersion) };
    if (!API_VERSION.test(apiVersion)) return { response: fail(invalidApiVersion(apiVersion)) };

    const opMatch =
      /^\/subscriptions\/[^/]+\/providers\/microsoft\.compute\/locations\/[^/]+\/operations\/([^/]+)$/i.exec(
        url.pathname,
      );
    if (opMatch && req.method === "GET") {
      const op = operations.get(opMatch[1] ?? "");
      if (!op) return { response: fail({ status: 404, code: "NotFound", message: "The operation was not found." }) };
      return { response: json(200, op) };
    }

    const parsed = parseComputeId(url.pathname);
    if (!parsed || /\/virtualmachines\/[^/]+\/virtualmachines\//i.test(url.pathname)) {
      return {
        response: fail({
          status: 404,
          code: "NotFound",
          message: `No route registered for '${req.method} ${url.pathname}'.`,
        }),
      };
    }
    const key = normaliseId(parsed.id);
    const resource = resources.get(key);
    if (!resource)
      return {
        response: fail(resourceNotFound(parsed.kind, parsed.name, parsed.resourceGroup)),
        resourceId: parsed.id,
      };
    const resourceId = resource.id.id;

    const throttle = throttles.get(key);
    if (throttle && throttle.remaining > 0) {
      throttle.remaining -= 1;
      const operationType =
        req.method === "GET" ? "Microsoft.Compute/GetVM3Min" : "Microsoft.Compute/VMScaleSetUpdate3Min";
      return {
        response: fail(throttled(operationType), { "retry-after": String(throttle.retryAfterSeconds) }),
        resourceId,
      };
    }

    if (req.method === "GET") {
      await sleep(latencyFor("get", key));
      return { response: json(200, resourceJson(resource)), resourceId };
    }
    if (req.method !== "PATCH") {
      return {
        response: fail({
          status: 405,
          code: "MethodNotAllowed",
          message: `The method '${req.method}' is not supported by the emulator.`,
        }),
        resourceId,
      };
    }

    await sleep(latencyFor("patch", key));
    let body: v.InferOutput<typeof PatchBody>;
    try {
      const parsedBody = v.safeParse(PatchBody, await req.json());
      if (!parsedBody.success) throw new Error(parsedBody.issues.map((i) => i.message).join("; "));
      body = parsedBody.output;
    } catch (err) {
      return {
        response: fail({
          status: 400,
          code: "InvalidRequestContent",
          message: `The request content was invalid and could not be deserialized: '${(err as Error).message}'.`,
        }),
        resourceId,
      };
    }
    if (resource.provisioningState.toLowerCase() === "deleting") {
      return { response: fail(markedForDeletion(resource.id.kind, resource.id.name)), resourceId };
    }
    const now = Date.now();
    const retryAfter = writeRetryAfter(key, now);
    if (retryAfter !== undefined) {
      const operationType =
        resource.id.kind === "virtualMachines"
          ? "Microsoft.Compute/PutVM3Min"
          : "Microsoft.Compute/VMScaleSetUpdate3Min";
      return { response: fail(throttled(operationType), { "retry-after": String(retryAfter) }), resourceId };
    }

    const delta = body.identity
      ? planIdentity(resource, body.identity, authorization)
      : ({ type: identityType(resource.identity), changes: new Map() } satisfies IdentityDelta);
    if ("status" in delta) return { response: fail(delta), resourceId };

    writes.get(key)?.push(now);
    operationCounter += 1;
    const opName = deterministicGuid("operation", String(operationCounter), String(now));
    const operation: Operation = { name: opName, status: "InProgress", startTime: new Date(now).toISOString() };
    operations.set(opName, operation);
    resource.pendingOperations += 1;
    resource.provisioningState = "Updating";
    const projectedState = projected(resource, delta);

    setTimeout(
      () => {
        const completedAt = Date.now();
        applyDelta(resource, delta, completedAt);
        resource.pendingOperations -= 1;
        if (resource.pendingOperations === 0 && resource.provisioningState === "Updating")
          resource.provisioningState = "Succeeded";
        operation.status = "Succeeded";
        operation.endTime = new Date(completedAt).toISOString();
      },
      latencyFor("lro", key),
    );

    const asyncUrl = `${url.origin}/subscriptions/${resource.id.subscriptionId}/providers/Microsoft.Compute/locations/${resource.location}/operations/${opName}?p=${deterministicGuid("p", opName)}&api-version=${apiVersion}`;
    return {
      response: json(200, resourceJson(resource, projectedState), {
        "azure-asyncoperation": asyncUrl,
        "azure-asyncnotification": "Enabled",
      }),
      resourceId,
    };
  }

  const server = Bun.serve({
    hostname: opts.host ?? "127.0.0.1",
    port: opts.port ?? 0,
    idleTimeout: 0,
    ...(opts.tls ? { tls: { cert: opts.tls.certPem, key: opts.tls.keyPem } } : {}),
    async fetch(req) {
      const { response, resourceId } = await handle(req);
      const path = new URL(req.url).pathname;
      if (path !== "/_emulator/imds-view") {
        callLog.push({
          method: req.method,
          path,
          status: response.status,
          ...(resourceId ? { resourceId } : {}),
          at: Date.now(),
        });
      }
      return response;
    },
  });

  const emulator: ArmEmulator = {
    url: `${opts.tls ? "https" : "http"}://${opts.host ?? "127.0.0.1"}:${server.port}`,
    tenantId,
    addUserAssignedIdentity(resourceId) {
      if (!isUserAssignedIdentityId(resourceId)) throw new Error(`not a user-assigned identity ID: ${resourceId}`);
      const key = normaliseId(resourceId);
      const entry = catalogue.get(key) ?? {
        resourceId,
        clientId: deterministicGuid("client", key),
        principalId: deterministicGuid("principal", key),
      };
      catalogue.set(key, entry);
      return { clientId: entry.clientId, principalId: entry.principalId };
    },
    addVm: (resourceId, seed) => addCompute("virtualMachines", resourceId, seed),
    addVmss: (resourceId, seed) => addCompute("virtualMachineScaleSets", resourceId, seed),
    identityOf(resourceId) {
      const parsed = parseComputeId(resourceId);
      const resource = parsed && resources.get(normaliseId(parsed.id));
      if (!resource) return undefined;
      return {
        type: identityType(resource.identity),
        userAssignedIdentities: Object.fromEntries(
          [...resource.identity.user.values()].map((u) => [
            u.resourceId,
            { clientId: u.clientId, principalId: u.principalId },
          ]),
        ),
      };
    },
    imdsView(resourceId) {
      const parsed = parseComputeId(resourceId);
      const resource = parsed && resources.get(normaliseId(parsed.id));
      if (!resource) return undefined;
      const { system } = resource.identity;
      return {
        resourceId: resource.id.id,
        kind: resource.id.kind,
        name: resource.id.name,
        subscriptionId: resource.id.subscriptionId,
        resourceGroup: resource.id.resourceGroup,
        location: resource.location,
        vmId: resource.vmId,
        tenantId,
        provisioningState: resource.provisioningState,
        ...(system ? { system: { ...system } } : {}),
        user: [...resource.identity.user.values()].map((u) => ({ ...u })),
      };
    },
    setLatency(op, ms, resourceId) {
      if (resourceId === undefined) latency.set(op, ms);
      else latency.set(`${op}|${normaliseId(parseComputeId(resourceId)?.id ?? resourceId)}`, ms);
    },
    throttleNext(resourceId, retryAfterSeconds, times = 1) {
      throttles.set(normaliseId(requireCompute(resourceId).id.id), { retryAfterSeconds, remaining: times });
    },
    setWriteRateLimit(perMinute) {
      writeLimitPerMinute = perMinute;
    },
    denyIdentity(identityResourceId) {
      denied.add(normaliseId(identityResourceId));
    },
    setProvisioningState(resourceId, state) {
      requireCompute(resourceId).provisioningState = state;
    },
    calls: () => callLog.map((c) => ({ ...c })),
    async stop() {
      await server.stop(true);
    },
  };
  return emulator;
}
