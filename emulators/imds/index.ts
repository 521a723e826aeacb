// IMDS emulator for one VM (or VMSS instance): the managed-identity token endpoint answering only
// for identities the ARM emulator has on that VM / scale set, in IMDS's wire format (string
// numbers, client_id, flat {error, error_description} JSON errors), with IMDS's request limits,
// plus /metadata/instance. The ARM emulator can be in-process or reached by URL, so this can run
// in another process, e.g. inside a network namespace bound to 169.254.169.254:80. Tests change its
// behaviour at runtime: throttleNext / failNext (faults.ts) and setPropagationDelay.
import type { ArmEmulator, ImdsView } from "../arm/index.ts";
import { createTokenIssuer, type TokenIssuer } from "../common/jwt.ts";
import { ImdsFaults } from "./faults.ts";
import { createRequestLimiter } from "./request-limiter.ts";
import { type IdentityQuery, selectIdentity } from "./select-identity.ts";

export interface ImdsRequest {
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface ImdsEmulator {
  url: string;
  requests(): ImdsRequest[];
  /** The next `times` token requests get IMDS's 429 too_many_requests (default 1). */
  throttleNext(times?: number): void;
  /** The next `times` token requests get `status`: 404 or 410 (IMDS updating), 429, 500 or 503. */
  failNext(status: 404 | 410 | 429 | 500 | 503, times?: number): void;
  /** Forgets injected failures not used up yet. */
  clearFaults(): void;
  /** From now on, identities assigned less than `ms` ago answer "Identity not found". */
  setPropagationDelay(ms: number): void;
  stop(): Promise<void>;
}

export interface ImdsEmulatorOptions {
  arm: ArmEmulator | string;
  vmResourceId: string;
  /** For a scale set: which instance this IMDS stands for (reported by /metadata/instance; default "0"). */
  instanceId?: string;
  issuer?: TokenIssuer | { privateKeyPem: string };
  host?: string;
  port?: number;
  /** How long after ARM completed an assignment IMDS still answers "Identity not found". */
  propagationDelayMs?: number;
  limits?: { perSecond?: number; concurrent?: number; processingMs?: number };
}

/** Lifetime of managed-identity tokens IMDS hands out (about 24 h). */
const TOKEN_LIFETIME_SECONDS = 86_399;
/** IMDS reuses a cached token until it is this close to expiry. */
const CACHE_REFRESH_MARGIN_SECONDS = 300;

const errorJson = (description: string, error = "invalid_request") => ({ error, error_description: description });

export async function startImdsEmulator(opts: ImdsEmulatorOptions): Promise<ImdsEmulator> {
  const issuer: TokenIssuer =
    opts.issuer && "issue" in opts.issuer ? opts.issuer : await createTokenIssuer(opts.issuer ?? {});
  const limiter = createRequestLimiter(opts.limits?.perSecond ?? 20, opts.limits?.concurrent ?? 5);
  const processingMs = opts.limits?.processingMs ?? 0;
  let propagationDelayMs = opts.propagationDelayMs ?? 0;
  const faults = new ImdsFaults();
  const log: ImdsRequest[] = [];
  const cache = new Map<string, { token: string; notBefore: number; expiresOn: number; clientId: string }>();

  async function viewOfVm(): Promise<ImdsView | undefined> {
    if (typeof opts.arm !== "string") return opts.arm.imdsView(opts.vmResourceId);
    const res = await fetch(`${opts.arm}/_emulator/imds-view?resourceId=${encodeURIComponent(opts.vmResourceId)}`);
    return res.ok ? ((await res.json()) as ImdsView) : undefined;
  }

  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json; charset=utf-8", server: "IMDS/150.870.65.1854" },
    });

  async function token(query: URLSearchParams): Promise<Response> {
    if (!query.get("api-version")) return json(400, errorJson("Required query variable 'api-version' is missing"));
    const resource = query.get("resource");
    if (!resource) return json(400, errorJson("Required audience parameter not specified"));
    const identityQuery: IdentityQuery = {
      ...(query.get("client_id") ? { clientId: query.get("client_id") ?? "" } : {}),
      ...(query.get("object_id") ? { objectId: query.get("object_id") ?? "" } : {}),
      ...(query.get("msi_res_id") || query.get("mi_res_id")
        ? { resourceId: query.get("msi_res_id") || query.get("mi_res_id") || "" }
        : {}),
    };
    const view = await viewOfVm();
    if (!view) return json(400, errorJson("Identity not found"));
    const selection = selectIdentity(view, identityQuery, Date.now(), propagationDelayMs);
    if (!selection.ok) return json(400, errorJson(selection.description));
    const { identity } = selection;

    const now = Math.floor(Date.now() / 1000);
    const cacheKey = `${identity.clientId}|${resource}`;
    let cached = cache.get(cacheKey);
    if (!cached || cached.expiresOn - now < CACHE_REFRESH_MARGIN_SECONDS) {
      const accessToken = await issuer.issue(
        {
          oid: identity.principalId,
          appid: identity.clientId,
          tid: view.tenantId,
          aud: resource,
          xms_mirid: identity.resourceId ?? view.resourceId,
        },
        TOKEN_LIFETIME_SECONDS,
      );
      cached = {
        token: accessToken,
        notBefore: now,
        expiresOn: now + TOKEN_LIFETIME_SECONDS,
        clientId: identity.clientId,
      };
      cache.set(cacheKey, cached);
    }
    return json(200, {
      access_token: cached.token,
      client_id: cached.clientId,
      expires_in: String(cached.expiresOn - now),
      expires_on: String(cached.expiresOn),
      ext_expires_in: String(cached.expiresOn - now),
      not_before: String(cached.notBefore),
      resource,
      token_type: "Bearer",
    });
  }

  async function instance(query: URLSearchParams, section: string | undefined): Promise<Response> {
    if (!query.get("api-version")) {
      return json(400, {
        error:
          "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds",
        "newest-versions": ["2023-07-01", "2023-05-01", "2021-12-13"],
      });
    }
    const view = await viewOfVm();
    if (!view) return json(404, { error: "Not found" });
    const vmss = view.kind === "virtualMachineScaleSets";
    const instanceId = opts.instanceId ?? "0";
    const compute = {
      azEnvironment: "AzurePublicCloud",
      location: view.location,
      name: vmss ? `${view.name}_${instanceId}` : view.name,
      osType: "Linux",
      provider: "Microsoft.Compute",
      resourceGroupName: view.resourceGroup,
      resourceId: vmss ? `${view.resourceId}/virtualMachines/${instanceId}` : view.resourceId,
      subscriptionId: view.subscriptionId,
      vmId: view.vmId,
      vmScaleSetName: vmss ? view.name : "",
      vmSize: "Standard_D2s_v3",
      zone: "",
    };
    const network = {
      interface: [
        {
          ipv4: {
            ipAddress: [{ privateIpAddress: "10.240.0.4", publicIpAddress: "" }],
            subnet: [{ address: "10.240.0.0", prefix: "16" }],
          },
          ipv6: { ipAddress: [] },
          macAddress: "000D3A000001",
        },
      ],
    };
    if (section === "compute") return json(200, compute);
    if (section === "network") return json(200, network);
    return json(200, { compute, network });
  }

  async function handle(req: Request, url: URL): Promise<Response> {
    const path = url.pathname.replace(/\/+$/, "");
    const isToken = path === "/metadata/identity/oauth2/token";
    const instanceMatch = /^\/metadata\/instance(?:\/(compute|network))?$/.exec(path);
    if (!isToken && !instanceMatch) return json(404, { error: "Not found" });
    if (req.method !== "GET") return json(405, { error: "Method not allowed" });
    const injected = isToken ? faults.take() : undefined;
    if (injected) return json(injected.status, injected.body);
    const release = limiter.tryAcquire(Date.now());
    if (!release) return json(429, errorJson("Too many requests", "too_many_requests"));
    try {
      if (processingMs > 0) await Bun.sleep(processingMs);
      if (req.headers.get("metadata")?.toLowerCase() !== "true") {
        return json(400, errorJson("Required metadata header not specified"));
      }
      return isToken ? await token(url.searchParams) : await instance(url.searchParams, instanceMatch?.[1]);
    } finally {
      release();
    }
  }

  const host = opts.host ?? "127.0.0.1";
  const server = Bun.serve({
    hostname: host,
    port: opts.port ?? 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const response = await handle(req, url);
      log.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), status: response.status });
      return response;
    },
  });

  return {
    url: `http://${host}:${server.port}`,
    requests: () => log.map((r) => ({ ...r, query: { ...r.query } })),
    throttleNext: (times = 1) => faults.add(429, times),
    failNext: (status, times = 1) => faults.add(status, times),
    clearFaults: () => faults.clear(),
    setPropagationDelay(ms) {
      propagationDelayMs = Math.max(0, ms);
    },
    async stop() {
      await server.stop(true);
    },
  };
}
