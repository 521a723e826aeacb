// Splits argv into flags and positional arguments the way Go's flag/pflag packages read them, so the
// spellings in existing manifests keep working: --flag=value, --flag value, -flag=value, -flag value,
// and boolean flags as --flag or --flag=false (a boolean never takes the next argument as its value).

export interface FlagOccurrence {
  /** Flag name without dashes. */
  readonly name: string;
  /** Raw value text; "true" for a boolean written without a value. */
  readonly value: string;
  /** The flag as the user wrote it, up to any "=" (for messages). */
  readonly written: string;
}

export interface SplitArgv {
  readonly flags: readonly FlagOccurrence[];
  readonly positionals: readonly string[];
  /** For each positional: the boolean flag written right before it, if any (to hint "--flag=true"). */
  readonly positionalAfterBoolean: ReadonlyMap<number, string>;
}

export type SplitResult = { ok: true; value: SplitArgv } | { ok: false; problem: string };

/**
 * `kindOf(name)` tells whether a flag is known and whether it is boolean; unknown flags are errors.
 */
export function splitArgv(
  argv: readonly string[],
  kindOf: (name: string) => "boolean" | "value" | undefined,
): SplitResult {
  const flags: FlagOccurrence[] = [];
  const positionals: string[] = [];
  const positionalAfterBoolean = new Map<number, string>();
  let lastBooleanWithoutValue: string | undefined;

  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? "";
    if (arg === "--") {
      positionals.push(...argv.slice(index + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (lastBooleanWithoutValue !== undefined)
        positionalAfterBoolean.set(positionals.length, lastBooleanWithoutValue);
      positionals.push(arg);
      lastBooleanWithoutValue = undefined;
      continue;
    }
    lastBooleanWithoutValue = undefined;
    const dashes = arg.startsWith("--") ? 2 : 1;
    const body = arg.slice(dashes);
    const equals = body.indexOf("=");
    const name = equals >= 0 ? body.slice(0, equals) : body;
    const written = `${"-".repeat(dashes)}${name}`;
    if (name === "" || name.startsWith("-")) return { ok: false, problem: `bad flag syntax: ${arg}` };
    const kind = kindOf(name);
    if (kind === undefined) return { ok: false, problem: `unknown flag ${written}` };
    if (equals >= 0) {
      flags.push({ name, value: body.slice(equals + 1), written });
    } else if (kind === "boolean") {
      flags.push({ name, value: "true", written });
      lastBooleanWithoutValue = written;
    } else {
      const next = argv[index + 1];
      if (next === undefined) return { ok: false, problem: `flag needs an argument: ${written}` };
      flags.push({ name, value: next, written });
      index++;
    }
  }
  return { ok: true, value: { flags, positionals, positionalAfterBoolean } };
}
