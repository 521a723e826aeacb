// argv + environment -> the command to run. Pure: no I/O, no process access (the host name comes in
// through `host`), so every spelling and error is unit-testable.
import { hostname } from "node:os";
import * as v from "valibot";
import { type FlagOccurrence, splitArgv } from "./argv.ts";
import { parseEnvironment } from "./env.ts";
import { type FlagSpec, type FlagValue, parseGoBool } from "./flag-spec.ts";
import { commandFlags, globalFlags, loggingFlags, type RoleName } from "./flags-common.ts";
import { micFlags } from "./flags-mic.ts";
import { nmiFlags } from "./flags-nmi.ts";
import { generalHelp, roleHelp } from "./help.ts";
import { allFlagsByName, type FlagTable, roleKnowsFlag } from "./role-tables.ts";
import type { LoggingConfig, MicConfig, NmiConfig, Command as RoleCommand, RoleConfig } from "./types.ts";
import { parseWaitCommandLine } from "./wait-parse.ts";
import type { WaitCommand } from "./wait-types.ts";

const program = "pod-identity";

export interface HostFacts {
  /** Default of MIC's --leader-election-instance. */
  hostname: string;
}

/** Everything the binary can be asked to do: the roles' commands and the subcommands'. */
export type Command = RoleCommand | WaitCommand;

export type ParseOutcome = { ok: true; command: Command } | { ok: false; exitCode: 2; message: string };

/**
 * Commands named by a first positional argument (`pod-identity wait ...`). A new command adds its parser
 * here and its variant to `Command`.
 */
const subcommands: Readonly<
  Record<string, (argv: readonly string[], env: Record<string, string | undefined>) => ParseOutcome>
> = { wait: parseWaitCommandLine };

class ConfigError extends Error {}

function fail(message: string): { ok: false; exitCode: 2; message: string } {
  return { ok: false, exitCode: 2, message: `${program}: ${message}` };
}

type TableValues<T extends FlagTable> = { -readonly [K in keyof T]: FlagValue<T[K]> };

/** Parses every flag of a table: the last occurrence on the command line wins (as in Go), else the default. */
function readTable<T extends FlagTable>(table: T, given: ReadonlyMap<string, FlagOccurrence>): TableValues<T> {
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    values[key] = readFlag(spec, given.get(spec.name));
  }
  return values as TableValues<T>;
}

function readFlag<T>(spec: FlagSpec<T>, occurrence: FlagOccurrence | undefined): T {
  const raw = occurrence?.value ?? spec.defaultText;
  const result = v.safeParse(spec.schema, raw);
  if (result.success) return result.output;
  const written = occurrence?.written ?? `--${spec.name}`;
  throw new ConfigError(`invalid value ${JSON.stringify(raw)} for flag ${written}: expected ${spec.expected}`);
}

function lastOccurrences(flags: readonly FlagOccurrence[]): Map<string, FlagOccurrence> {
  const byName = new Map<string, FlagOccurrence>();
  for (const flag of flags) byName.set(flag.name === "h" ? "help" : flag.name, flag);
  return byName;
}

function splitKind(name: string): "boolean" | "value" | undefined {
  if (name === "h") return "boolean";
  const spec = allFlagsByName.get(name);
  if (spec === undefined) return undefined;
  return spec.boolean ? "boolean" : "value";
}

export function parseCommandLine(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  host: HostFacts = { hostname: hostname() },
): ParseOutcome {
  const first = argv[0];
  const subcommand = first === undefined ? undefined : subcommands[first];
  if (subcommand) return subcommand(argv.slice(1), env);

  const split = splitArgv(argv, splitKind);
  if (!split.ok) return fail(`${split.problem} (see ${program} --help)`);
  const given = lastOccurrences(split.value.flags);

  try {
    const roleOccurrence = given.get("role");
    const role = roleOccurrence === undefined ? undefined : readFlag(commandFlags.role, roleOccurrence);
    const wantsHelp = given.has("help") && parseGoBool(given.get("help")?.value ?? "") !== false;
    if (wantsHelp) return { ok: true, command: { kind: "help", text: role ? roleHelp(role) : generalHelp() } };

    const { positionals, positionalAfterBoolean } = split.value;
    if (positionals.length > 0) {
      const extra = positionals[0] ?? "";
      const afterBoolean = positionalAfterBoolean.get(0);
      const hint =
        afterBoolean !== undefined && parseGoBool(extra) !== undefined
          ? `: boolean flags take no separate value, write ${afterBoolean}=${extra}`
          : "";
      return fail(`unexpected argument ${JSON.stringify(extra)}${hint}`);
    }

    const wantsVersion = readFlag(commandFlags.version, given.get("version"));
    if (role === undefined) {
      if (wantsVersion) return { ok: true, command: { kind: "version" } };
      if (given.has("validate-config")) readFlag(commandFlags.validateConfig, given.get("validate-config"));
      return fail(`missing --role: expected one of mic, nmi, managed (see ${program} --help)`);
    }

    for (const flag of split.value.flags) {
      if (!roleKnowsFlag(role, flag.name === "h" ? "help" : flag.name)) {
        return fail(`flag ${flag.written} is not used by --role ${role} (see ${program} --role ${role} --help)`);
      }
    }

    // Values are checked even for --version, as Go's flag parsing would have done before printing.
    const config = buildRoleConfig(role, given, env, host);
    if (wantsVersion) return { ok: true, command: { kind: "version" } };
    const validate = readFlag(commandFlags.validateConfig, given.get("validate-config"));
    requireEnvironment(config);
    const command: Command = validate ? { kind: "validate", config } : { kind: "run", config };
    return { ok: true, command };
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
}

function buildLogging(given: ReadonlyMap<string, FlagOccurrence>): LoggingConfig {
  return readTable(loggingFlags, given);
}

function buildRoleConfig(
  role: RoleName,
  given: ReadonlyMap<string, FlagOccurrence>,
  rawEnv: Record<string, string | undefined>,
  host: HostFacts,
): RoleConfig {
  const env = parseEnvironment(rawEnv);
  const common = { ...readTable(globalFlags, given), logging: buildLogging(given) };
  if (role === "mic") {
    const flags = readTable(micFlags, given);
    const config: MicConfig = {
      role: "mic",
      ...flags,
      ...common,
      kubeconfig: flags.kubeconfig || (env.kubeconfig ?? ""),
      forceNamespaced: flags.forceNamespaced || env.forceNamespaced,
      leaderElectionInstance: flags.leaderElectionInstance || host.hostname,
      micPodNamespace: env.micPodNamespace ?? "",
      cloudEnv: env.cloudEnv,
    };
    return config;
  }

  const { hostIp, operationMode, ...flags } = readTable(nmiFlags, given);
  const explicitMode = given.has("operation-mode") ? operationMode : undefined;
  if (role === "managed" && explicitMode === "standard") {
    throw new ConfigError("--operation-mode=standard contradicts --role managed");
  }
  const managed = role === "managed" || operationMode === "managed";
  const forceNamespaced = role === "managed" || flags.forceNamespaced || env.forceNamespaced;
  if (managed && !forceNamespaced) {
    // The original refused this too ("managed mode not initialized in force namespaced mode").
    throw new ConfigError(
      "--operation-mode=managed requires --forceNamespaced (or FORCENAMESPACED=true); --role managed implies it",
    );
  }
  const config: NmiConfig = {
    role: managed ? "managed" : "nmi",
    operationMode: managed ? "managed" : "standard",
    ...flags,
    ...common,
    kubeconfig: env.kubeconfig ?? "",
    node: flags.node || (env.nodeName ?? ""),
    forceNamespaced,
    hostIp,
  };
  return config;
}

/** Environment the role cannot start without; not needed for --help or --version. */
function requireEnvironment(config: RoleConfig): void {
  if (config.role === "mic" && config.micPodNamespace === "") {
    throw new ConfigError("namespace not specified. Please add meta.namespace as env variable MIC_POD_NAMESPACE");
  }
  // --cleanup only removes the node's rules, which needs no node name.
  if (config.role !== "mic" && config.node === "" && !config.cleanup) {
    throw new ConfigError("node name not specified: pass --node or set NODE_NAME");
  }
}
