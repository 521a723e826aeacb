// --help of `pod-identity wait`, generated from its flag table and exit codes so neither can drift.
import { waitExitCodeMeanings } from "../wait/exit-codes.ts";
import type { FlagSpec } from "./flag-spec.ts";
import { waitFlags } from "./wait-flags.ts";

function describeFlags(specs: readonly FlagSpec<unknown>[]): string[] {
  const names = specs.map((spec) => `  --${spec.name}${spec.boolean ? "" : ` ${spec.typeName}`}`);
  const column = Math.max(...names.map((name) => name.length)) + 2;
  return specs.map((spec, index) => {
    const hasDefault = spec.defaultText !== "" && !(spec.boolean && spec.defaultText === "false");
    return `${(names[index] ?? "").padEnd(column)}${spec.help}${hasDefault ? ` (default ${spec.defaultText})` : ""}`;
  });
}

export function waitHelp(): string {
  return [
    "Usage: pod-identity wait [flags]",
    "",
    "Waits until NMI on this node answers Active on /healthz, for init containers and exec probes.",
    "With --token it then fetches a token through the metadata address, as the application will, and",
    "with --expect-client-id / --expect-object-id checks that the token's claims name that identity.",
    "The claims are read without checking the signature: this checks which identity NMI handed out,",
    "not that the token is genuine. The token itself is never printed.",
    "",
    "Flags:",
    ...describeFlags(Object.values(waitFlags)),
    "",
    "Exit codes:",
    ...waitExitCodeMeanings.map(([code, meaning]) => `  ${code}  ${meaning}`),
    "",
    "Environment:",
    "  HOST_IP",
    "      default of --nmi-host (set it from status.hostIP with the downward API)",
    "  HTTP_PROXY, HTTPS_PROXY, ALL_PROXY",
    "      ignored: the probe and the token request always go out directly, as the application's IMDS request must",
    "",
    "Connection errors, 404 (identity not assigned yet), 429 and 5xx are retried every --interval until",
    "--timeout; other answers to the token request are final.",
    "Flags may be written --flag=value, --flag value, -flag=value or -flag value; booleans as --flag or --flag=false.",
    "Durations use Go syntax (500ms, 30s, 3m, 1h30m).",
    "",
  ].join("\n");
}
