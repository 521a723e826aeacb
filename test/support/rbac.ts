// Kubernetes RBAC, the parts the chart's RBAC test needs, as pure functions: an API request (method +
// path with query) → the attributes the authorizer sees (as kube-apiserver's RequestInfoFactory derives
// them), the grants a ServiceAccount gets from rendered Roles / ClusterRoles and their bindings, and
// whether one grant allows a request (verbs, apiGroups, resources incl. subresources, resourceNames,
// namespace of a Role or RoleBinding). Wildcards ("*") are understood, as the real authorizer does.

/** A request on a resource, as RBAC sees it. */
export interface ResourceAttributes {
  kind: "resource";
  verb: string;
  apiGroup: string;
  resource: string;
  /** e.g. "status" for .../pods/x/status. */
  subresource?: string;
  /** Unset for cluster-scoped objects and all-namespaces collections. */
  namespace?: string;
  /** Unset for collections (unless a list/watch selects metadata.name, as the real server derives it). */
  name?: string;
}

/** A request outside the resource API (/version, /healthz, discovery documents). */
export interface NonResourceAttributes {
  kind: "nonResource";
  verb: string;
  path: string;
}

export type RequestAttributes = ResourceAttributes | NonResourceAttributes;

/** The namespace's own subresources: /api/v1/namespaces/<ns>/status is the namespace, not a resource "status". */
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

/** method + path (with query string) → RBAC attributes. */
export function requestAttributes(method: string, pathWithQuery: string): RequestAttributes {
  const url = new URL(pathWithQuery, "http://api");
  const upper = method.toUpperCase();
  const parts = url.pathname.split("/").filter((p) => p !== "");
  let rest: string[];
  let apiGroup: string;
  if (parts[0] === "api" && parts.length >= 2) {
    apiGroup = "";
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 3) {
    apiGroup = parts[1] as string;
    rest = parts.slice(3);
  } else {
    return { kind: "nonResource", verb: nonResourceVerb(upper), path: url.pathname };
  }
  if (rest.length === 0) return { kind: "nonResource", verb: nonResourceVerb(upper), path: url.pathname };

  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 2) {
    namespace = decodeURIComponent(rest[1] as string);
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2] as string)) rest = rest.slice(2);
  }
  const resource = rest[0] as string;
  let name = rest[1] === undefined ? undefined : decodeURIComponent(rest[1]);
  const subresource = rest[2];
  // /api/v1/namespaces/<ns> is the namespace object itself, cluster-scoped.
  if (resource === "namespaces") namespace = undefined;

  const watch = ["true", "1"].includes(url.searchParams.get("watch") ?? "");
  let verb: string;
  switch (upper) {
    case "GET":
    case "HEAD":
      verb = watch ? "watch" : name === undefined ? "list" : "get";
      break;
    case "POST":
      verb = "create";
      break;
    case "PUT":
      verb = "update";
      break;
    case "PATCH":
      verb = "patch";
      break;
    case "DELETE":
      verb = name === undefined ? "deletecollection" : "delete";
      break;
    default:
      verb = upper.toLowerCase();
  }
  // The real server takes the name of a list/watch/deletecollection from a metadata.name field selector,
  // so resourceNames can allow those.
  if (name === undefined && ["list", "watch", "deletecollection"].includes(verb)) {
    const selected = nameFromFieldSelector(url.searchParams.get("fieldSelector"));
    if (selected !== undefined) name = selected;
  }
  return {
    kind: "resource",
    verb,
    apiGroup,
    resource,
    ...(subresource === undefined ? {} : { subresource }),
    ...(namespace === undefined ? {} : { namespace }),
    ...(name === undefined ? {} : { name }),
  };
}

function nonResourceVerb(method: string): string {
  const verbs: Record<string, string> = { GET: "get", HEAD: "head", POST: "post", PUT: "put", PATCH: "patch" };
  return verbs[method] ?? method.toLowerCase();
}

function nameFromFieldSelector(selector: string | null): string | undefined {
  if (!selector) return undefined;
  for (const term of selector.split(",")) {
    const match = /^metadata\.name(?:==|=)(.+)$/.exec(term.trim());
    if (match) return match[1];
  }
  return undefined;
}

/** One PolicyRule of a Role / ClusterRole. */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** A rule as it applies to one subject: from which role, through which binding, where. */
export interface Grant {
  /** "ClusterRole/<name>" or "Role/<namespace>/<name>". */
  role: string;
  /** Index of the rule in the role. */
  ruleIndex: number;
  rule: PolicyRule;
  /** Namespace the grant is limited to (Role, or ClusterRole bound by a RoleBinding); unset: cluster-wide. */
  namespace?: string;
}

/** The subset of a rendered object the grant collection reads. */
export interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** Every rule bound to the ServiceAccount by the given objects' (Cluster)RoleBindings. */
export function grantsFor(objects: RbacObject[], account: ServiceAccountRef): Grant[] {
  const grants: Grant[] = [];
  const bindsAccount = (binding: RbacObject, defaultNamespace?: string) =>
    (binding.subjects ?? []).some(
      (s) =>
        s.kind === "ServiceAccount" &&
        s.name === account.name &&
        (s.namespace ?? defaultNamespace) === account.namespace,
    );
  for (const binding of objects) {
    if (binding.kind !== "ClusterRoleBinding" && binding.kind !== "RoleBinding") continue;
    const bindingNamespace = binding.kind === "RoleBinding" ? binding.metadata.namespace : undefined;
    if (!binding.roleRef || !bindsAccount(binding, bindingNamespace)) continue;
    const { kind, name } = binding.roleRef;
    // A ClusterRoleBinding can only reference a ClusterRole; a RoleBinding only a Role of its namespace.
    if (binding.kind === "ClusterRoleBinding" && kind !== "ClusterRole") continue;
    const role = objects.find(
      (o) =>
        o.kind === kind &&
        o.metadata.name === name &&
        (kind === "ClusterRole" || o.metadata.namespace === bindingNamespace),
    );
    if (!role) continue;
    const roleId = kind === "ClusterRole" ? `ClusterRole/${name}` : `Role/${role.metadata.namespace}/${name}`;
    (role.rules ?? []).forEach((rule, ruleIndex) => {
      grants.push({ role: roleId, ruleIndex, rule, ...(bindingNamespace ? { namespace: bindingNamespace } : {}) });
    });
  }
  return grants;
}

const matches = (allowed: string[] | undefined, value: string) => (allowed ?? []).some((a) => a === "*" || a === value);

function resourceMatches(allowed: string[] | undefined, resource: string, subresource: string | undefined): boolean {
  const full = subresource === undefined ? resource : `${resource}/${subresource}`;
  return (allowed ?? []).some(
    (a) => a === "*" || a === full || (subresource !== undefined && a === `*/${subresource}`),
  );
}

/** Whether the grant allows the request (Kubernetes RBAC semantics). */
export function grantAllows(grant: Grant, request: RequestAttributes): boolean {
  const { rule } = grant;
  if (!matches(rule.verbs, request.verb)) return false;
  if (request.kind === "nonResource") {
    // Non-resource URLs are only grantable cluster-wide, with an optional trailing "*" prefix match.
    if (grant.namespace !== undefined) return false;
    return (rule.nonResourceURLs ?? []).some(
      (u) => u === request.path || (u.endsWith("*") && request.path.startsWith(u.slice(0, -1))),
    );
  }
  if (grant.namespace !== undefined && request.namespace !== grant.namespace) return false;
  if (!matches(rule.apiGroups, request.apiGroup)) return false;
  if (!resourceMatches(rule.resources, request.resource, request.subresource)) return false;
  const names = rule.resourceNames ?? [];
  if (names.length === 0) return true;
  // A named rule never matches a request without a name (create, an unselected list or watch).
  return request.name !== undefined && names.includes(request.name);
}

/** The grants allowing the request (empty: forbidden). */
export function allowingGrants(grants: Grant[], request: RequestAttributes): Grant[] {
  return grants.filter((grant) => grantAllows(grant, request));
}

/** One verb on one resource of one rule: the unit in which unused permissions are reported. */
export interface Permission {
  role: string;
  ruleIndex: number;
  verb: string;
  apiGroup: string;
  resource: string;
  resourceNames?: string[];
  namespace?: string;
}

/** Splits a grant into single permissions (verb × apiGroup × resource). */
export function permissionsOf(grant: Grant): Permission[] {
  const out: Permission[] = [];
  for (const verb of grant.rule.verbs)
    for (const apiGroup of grant.rule.apiGroups ?? [])
      for (const resource of grant.rule.resources ?? [])
        out.push({
          role: grant.role,
          ruleIndex: grant.ruleIndex,
          verb,
          apiGroup,
          resource,
          ...(grant.rule.resourceNames?.length ? { resourceNames: grant.rule.resourceNames } : {}),
          ...(grant.namespace === undefined ? {} : { namespace: grant.namespace }),
        });
  return out;
}

/** Whether a single permission allows the request (same semantics as grantAllows). */
export function permissionAllows(permission: Permission, request: RequestAttributes): boolean {
  return grantAllows(
    {
      role: permission.role,
      ruleIndex: permission.ruleIndex,
      rule: {
        verbs: [permission.verb],
        apiGroups: [permission.apiGroup],
        resources: [permission.resource],
        ...(permission.resourceNames ? { resourceNames: permission.resourceNames } : {}),
      },
      ...(permission.namespace === undefined ? {} : { namespace: permission.namespace }),
    },
    request,
  );
}

/** "verb group/resource" — the key the allow-list of unused permissions uses. */
export function permissionKey(permission: Permission): string {
  const group = permission.apiGroup === "" ? "core" : permission.apiGroup;
  return `${permission.verb} ${group}/${permission.resource}`;
}

/** "verb group/resource[/sub] ns/name" for messages. */
export function describeRequest(request: RequestAttributes): string {
  if (request.kind === "nonResource") return `${request.verb} ${request.path}`;
  const group = request.apiGroup === "" ? "core" : request.apiGroup;
  const sub = request.subresource ? `/${request.subresource}` : "";
  return `${request.verb} ${group}/${request.resource}${sub} ${request.namespace ?? "-"}/${request.name ?? "*"}`;
}

export interface Coverage {
  /** Requests no grant allows: the chart is missing something. */
  forbidden: RequestAttributes[];
  /** Permissions no request used. */
  unused: Permission[];
}

/** Which requests are forbidden and which permissions went unused. */
export function coverage(grants: Grant[], requests: RequestAttributes[]): Coverage {
  const resourceRequests = requests.filter((r) => r.kind === "resource");
  const forbidden = resourceRequests.filter((r) => allowingGrants(grants, r).length === 0);
  const unused = grants
    .flatMap(permissionsOf)
    .filter((permission) => !resourceRequests.some((request) => permissionAllows(permission, request)));
  return { forbidden, unused };
}
