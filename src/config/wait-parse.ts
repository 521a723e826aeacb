// argv + environment -> the `pod-identity wait` command. Pure, like parse.ts: every spelling and every
// refusal is unit-testable.
import * as v from "valibot";
import { type FlagOccurrence, splitArgv } from "./argv.ts";
import { type FlagSpec, parseGoBool } from "./flag-spec.ts";
import { hostSchema, waitFlags } from "./wait-flags.ts";
import { waitHelp } from "./wait-help.ts";
import type { WaitCommand, WaitConfig, WaitIdentitySelector } from "./wait-types.ts";

const prefix = "pod-identity wait";

export type WaitParseOutcome =
  | { ok: true; command: WaitCommand | { kind: "help"; text: string } }
  | { ok: false; exitCode: 2; message: string };

class WaitFlagError extends Error {}

const flagsByName: ReadonlyMap<string, FlagSpec<unknown>> = new Map(
  Object.values(waitFlags).map((spec) => [spec.name, spec] as const),
);

const tokenFlagKeys = [
  "resource",
  "clientId",
  "resourceId",
  "objectId",
  "expectClientId",
  "expectObjectId",
  "metadataUrl",
] as const satisfies readonly (keyof typeof waitFlags)[];

const environmentSchema = v.object({ HOST_IP: v.optional(v.string()) });

function kindOf(name: string): "boolean" | "value" | undefined {
  if (name === "h") return "boolean";
  const spec = flagsByName.get(name);
  if (spec === undefined) return undefined;
  return spec.boolean ? "boolean" : "value";
}

function read<T>(spec: FlagSpec<T>, given: ReadonlyMap<string, FlagOccurrence>): T {
  const occurrence = given.get(spec.name);
  const raw = occurrence?.value ?? spec.defaultText;
  const result = v.safeParse(spec.schema, raw);
  if (result.success) return result.output;
  const written = occurrence?.written ?? `--${spec.name}`;
  throw new WaitFlagError(`invalid value ${JSON.stringify(raw)} for flag ${written}: expected ${spec.expected}`);
}

/** $HOST_IP when --nmi-host is not given; unset or empty falls back to loopback. */
function defaultHost(env: Record<string, string | undefined>): string {
  const hostIp = v.parse(environmentSchema, env).HOST_IP ?? "";
  if (hostIp === "") return "127.0.0.1";
  if (!v.is(hostSchema, hostIp)) {
    throw new WaitFlagError(`invalid HOST_IP ${JSON.stringify(hostIp)}: expected an IP address or a host name`);
  }
  return hostIp;
}

function selectorOf(values: {
  clientId: string;
  resourceId: string;
  objectId: string;
}): WaitIdentitySelector | undefined {
  const chosen: WaitIdentitySelector[] = [];
  if (values.clientId !== "") chosen.push({ param: "client_id", value: values.clientId });
  if (values.resourceId !== "") chosen.push({ param: "msi_res_id", value: values.resourceId });
  if (values.objectId !== "") chosen.push({ param: "object_id", value: values.objectId });
  if (chosen.length > 1) {
    throw new WaitFlagError("give at most one of --client-id, --resource-id, --object-id");
  }
  return chosen[0];
}

function buildConfig(given: ReadonlyMap<string, FlagOccurrence>, env: Record<string, string | undefined>): WaitConfig {
  const nmiHost = read(waitFlags.nmiHost, given);
  const config: WaitConfig = {
    nmiHost: nmiHost === "" ? defaultHost(env) : nmiHost,
    nmiProbePort: read(waitFlags.nmiProbePort, given),
    timeoutMs: read(waitFlags.timeoutMs, given),
    intervalMs: read(waitFlags.intervalMs, given),
    quiet: read(waitFlags.quiet, given),
  };
  const tokenValues = {
    resource: read(waitFlags.resource, given),
    clientId: read(waitFlags.clientId, given),
    resourceId: read(waitFlags.resourceId, given),
    objectId: read(waitFlags.objectId, given),
    expectClientId: read(waitFlags.expectClientId, given),
    expectObjectId: read(waitFlags.expectObjectId, given),
  };
  const metadataUrl = read(waitFlags.metadataUrl, given);
  if (!read(waitFlags.token, given)) {
    // A token flag without --token would be silently ignored: the check the user asked for never runs.
    for (const key of tokenFlagKeys) {
      if (given.has(waitFlags[key].name)) throw new WaitFlagError(`--${waitFlags[key].name} needs --token`);
    }
    return config;
  }
  if (tokenValues.resource === "") throw new WaitFlagError("--token needs --resource");
  const selector = selectorOf(tokenValues);
  return {
    ...config,
    token: {
      resource: tokenValues.resource,
      metadataUrl,
      ...(selector && { selector }),
      ...(tokenValues.expectClientId !== "" && { expectClientId: tokenValues.expectClientId }),
      ...(tokenValues.expectObjectId !== "" && { expectObjectId: tokenValues.expectObjectId }),
    },
  };
}

/** `argv` is what follows the word "wait". */
export function parseWaitCommandLine(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): WaitParseOutcome {
  const fail = (message: string) => ({ ok: false, exitCode: 2, message: `${prefix}: ${message}` }) as const;
  const split = splitArgv(argv, kindOf);
  if (!split.ok) return fail(`${split.problem} (see ${prefix} --help)`);
  const given = new Map<string, FlagOccurrence>();
  for (const flag of split.value.flags) given.set(flag.name === "h" ? "help" : flag.name, flag);

  const help = given.get("help");
  if (help !== undefined && parseGoBool(help.value) !== false) {
    return { ok: true, command: { kind: "help", text: waitHelp() } };
  }
  const extra = split.value.positionals[0];
  if (extra !== undefined) return fail(`unexpected argument ${JSON.stringify(extra)} (see ${prefix} --help)`);
  try {
    read(waitFlags.help, given);
    return { ok: true, command: { kind: "wait", config: buildConfig(given, env) } };
  } catch (error) {
    if (error instanceof WaitFlagError) return fail(error.message);
    throw error;
  }
}
