// --help text, generated from the flag tables so it cannot drift from what the parser accepts.
import type { FlagSpec } from "./flag-spec.ts";
import { commandFlags, type RoleName } from "./flags-common.ts";
import { roleSections } from "./role-tables.ts";

const roleSummaries: Record<RoleName, string> = {
  mic: "Managed Identity Controller: keeps AzureAssignedIdentities and VM/VMSS identities in step with pods (Deployment, leader-elected).",
  nmi: "Node Managed Identity: intercepts pod IMDS traffic and answers token requests for the pod's identities (DaemonSet, hostNetwork).",
  managed:
    "NMI in managed mode: identities are pre-assigned to the VMSS, bindings matched at request time, namespaced. No MIC.",
};

const roleEnvironment: Record<RoleName, readonly (readonly [string, string])[]> = {
  mic: [
    ["MIC_POD_NAMESPACE", "required: MIC's own namespace (not needed for --help/--version)"],
    ["FORCENAMESPACED", '"true" has the effect of --forceNamespaced'],
    ["KUBECONFIG", "kubeconfig path when --kubeconfig is empty"],
    [
      "CLOUD, TENANT_ID, CLIENT_ID, CLIENT_SECRET, SUBSCRIPTION_ID, RESOURCE_GROUP, VM_TYPE, USE_MSI, USER_ASSIGNED_MSI_CLIENT_ID",
      "cloud settings when --cloudconfig is empty",
    ],
    ["AZURE_ENVIRONMENT_FILEPATH", "custom cloud (AzureStackCloud) environment file"],
  ],
  nmi: [
    ["NODE_NAME", "default of --node"],
    ["FORCENAMESPACED", '"true" has the effect of --forceNamespaced'],
    ["KUBECONFIG", "kubeconfig path; empty uses the in-cluster config"],
  ],
  managed: [
    ["NODE_NAME", "default of --node"],
    ["KUBECONFIG", "kubeconfig path; empty uses the in-cluster config"],
  ],
};

const spellingNote =
  "Flags may be written --flag=value, --flag value, -flag=value or -flag value; booleans as --flag or --flag=false.\nDurations use Go syntax (500ms, 30s, 3m, 1h30m).";

function flagLines(specs: readonly FlagSpec<unknown>[]): string[] {
  const left = specs.map((spec) => `  --${spec.name}${spec.boolean ? "" : ` ${spec.typeName}`}`);
  const width = Math.max(...left.map((text) => text.length)) + 2;
  return specs.map((spec, index) => {
    // As Go's flag help: no "(default ...)" for empty strings and false booleans.
    const zero = spec.defaultText === "" || (spec.boolean && spec.defaultText === "false");
    const suffix = zero ? "" : ` (default ${spec.defaultText})`;
    return `${(left[index] ?? "").padEnd(width)}${spec.help}${suffix}`;
  });
}

export function generalHelp(): string {
  return [
    "pod-identity: drop-in successor to AAD Pod Identity (MIC and NMI in one binary).",
    "",
    "Usage:",
    "  pod-identity --role mic|nmi|managed [flags]",
    "  pod-identity --role <role> --help       flags and environment of one role",
    "  pod-identity --role <role> --validate-config",
    "  pod-identity --version",
    "  pod-identity wait [flags]              wait for NMI to be Active (and optionally check a token); see wait --help",
    "",
    "Roles:",
    ...(Object.keys(roleSummaries) as RoleName[]).map((role) => `  ${role.padEnd(9)}${roleSummaries[role]}`),
    "",
    "Flags for every command:",
    ...flagLines(Object.values(commandFlags)),
    "",
    spellingNote,
    "",
  ].join("\n");
}

export function roleHelp(role: RoleName): string {
  const lines = [`Usage: pod-identity --role ${role} [flags]`, "", roleSummaries[role], ""];
  for (const section of roleSections[role]) {
    lines.push(`${section.title}:`, ...flagLines(Object.values(section.table)), "");
  }
  lines.push("Environment:");
  const env = roleEnvironment[role];
  for (const [name, meaning] of env) lines.push(`  ${name}`, `      ${meaning}`);
  lines.push("", spellingNote, "pod-identity never serves pprof; --enableProfile is accepted and ignored.", "");
  return lines.join("\n");
}
