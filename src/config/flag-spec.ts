// One command-line flag: its name as written, whether it takes a separate value, its default (written
// as a user would write it, parsed by the same schema as user input) and the valibot schema that turns
// the raw text into the typed value.
import * as v from "valibot";
import { parseGoDuration } from "./go-duration.ts";

export interface FlagSpec<T> {
  /** Name as written on the command line, without dashes (case-sensitive, as Go's flag packages). */
  readonly name: string;
  /** Boolean flags take no separate value: `--flag` means true, `--flag=false` sets false. */
  readonly boolean: boolean;
  /** Default as text; parsed with `schema` like user input, so help and behaviour cannot disagree. */
  readonly defaultText: string;
  /** Type shown in help, e.g. "duration". */
  readonly typeName: string;
  /** What a valid value looks like; completes "expected ..." in error messages. */
  readonly expected: string;
  readonly help: string;
  readonly schema: v.GenericSchema<string, T>;
}

/** The typed value a flag produces. */
export type FlagValue<F> = F extends FlagSpec<infer T> ? T : never;

// Builds a string -> T schema from a converter that answers undefined for text it rejects.
function converting<T>(convert: (text: string) => T | undefined): v.GenericSchema<string, T> {
  return v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const result = convert(dataset.value);
      if (result === undefined) {
        addIssue({ message: "invalid value" });
        return NEVER;
      }
      return result;
    }),
  );
}

const goTrue = new Set(["1", "t", "T", "true", "TRUE", "True"]);
const goFalse = new Set(["0", "f", "F", "false", "FALSE", "False"]);

/** strconv.ParseBool, which both Go flag packages use for boolean flags. */
export function parseGoBool(text: string): boolean | undefined {
  if (goTrue.has(text)) return true;
  if (goFalse.has(text)) return false;
  return undefined;
}

function parseInteger(text: string): number | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

function parseFloatText(text: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

function inRange(value: number | undefined, min: number, max: number): number | undefined {
  return value !== undefined && value >= min && value <= max ? value : undefined;
}

export function stringFlag(name: string, defaultText: string, help: string): FlagSpec<string> {
  return { name, boolean: false, defaultText, typeName: "string", expected: "a string", help, schema: v.string() };
}

export function boolFlag(name: string, defaultValue: boolean, help: string): FlagSpec<boolean> {
  return {
    name,
    boolean: true,
    defaultText: String(defaultValue),
    typeName: "bool",
    expected: "a boolean (true, false, 1, 0, t, f)",
    help,
    schema: converting(parseGoBool),
  };
}

export function intFlag(
  name: string,
  defaultValue: number,
  help: string,
  range: { min?: number; max?: number } = {},
): FlagSpec<number> {
  const min = range.min ?? Number.MIN_SAFE_INTEGER;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const bounds =
    range.min !== undefined && range.max !== undefined
      ? ` ${min}-${max}`
      : range.min !== undefined
        ? ` >= ${min}`
        : range.max !== undefined
          ? ` <= ${max}`
          : "";
  return {
    name,
    boolean: false,
    defaultText: String(defaultValue),
    typeName: "int",
    expected: `an integer${bounds}`,
    help,
    schema: converting((text) => inRange(parseInteger(text), min, max)),
  };
}

/** Whole seconds on the command line (the original's `...-sec` int flags), milliseconds in the config. */
export function secondsFlag(name: string, defaultSeconds: number, help: string, minSeconds = 0): FlagSpec<number> {
  return {
    name,
    boolean: false,
    defaultText: String(defaultSeconds),
    typeName: "int (seconds)",
    expected: `a whole number of seconds >= ${minSeconds}`,
    help,
    schema: converting((text) => {
      const seconds = inRange(parseInteger(text), minSeconds, Number.MAX_SAFE_INTEGER);
      return seconds === undefined ? undefined : seconds * 1000;
    }),
  };
}

export function positiveFloatFlag(name: string, defaultValue: number, help: string): FlagSpec<number> {
  return {
    name,
    boolean: false,
    defaultText: String(defaultValue),
    typeName: "float",
    expected: "a number > 0",
    help,
    schema: converting((text) => {
      const value = parseFloatText(text);
      return value !== undefined && value > 0 ? value : undefined;
    }),
  };
}

/** Go duration text ("3600s", "1h30m", "500ms") on the command line, milliseconds in the config. */
export function durationFlag(
  name: string,
  defaultText: string,
  help: string,
  options: { positive?: boolean } = {},
): FlagSpec<number> {
  const positive = options.positive ?? false;
  return {
    name,
    boolean: false,
    defaultText,
    typeName: "duration",
    expected: `a ${positive ? "positive" : "non-negative"} Go duration such as 500ms, 30s, 3m, 1h30m`,
    help,
    schema: converting((text) => {
      const ms = parseGoDuration(text);
      if (ms === undefined || ms < 0 || (positive && ms === 0)) return undefined;
      return ms;
    }),
  };
}

/** The original declared ports as strings; we check them and hand out numbers. */
export function portFlag(name: string, defaultPort: number, help: string): FlagSpec<number> {
  return {
    name,
    boolean: false,
    defaultText: String(defaultPort),
    typeName: "port",
    expected: "a port number 1-65535",
    help,
    schema: converting((text) => (/^\d{1,5}$/.test(text) ? inRange(Number(text), 1, 65535) : undefined)),
  };
}

export function ipFlag(name: string, defaultText: string, help: string): FlagSpec<string> {
  return {
    name,
    boolean: false,
    defaultText,
    typeName: "ip",
    expected: "an IPv4 or IPv6 address",
    help,
    schema: v.pipe(v.string(), v.ip()),
  };
}

/** One of a fixed set of words; `caseInsensitive` lower-cases first, as the original did for --operation-mode. */
export function choiceFlag<const T extends string>(
  name: string,
  defaultText: T,
  choices: readonly T[],
  help: string,
  options: { caseInsensitive?: boolean } = {},
): FlagSpec<T> {
  const normalise = options.caseInsensitive ? (text: string) => text.toLowerCase() : (text: string) => text;
  return {
    name,
    boolean: false,
    defaultText,
    typeName: choices.join("|"),
    expected: `one of ${choices.join(", ")}`,
    help,
    schema: converting((text) => choices.find((choice) => choice === normalise(text))),
  };
}

/** Comma-separated list; blanks around items and empty items are dropped. */
export function listFlag(name: string, help: string): FlagSpec<string[]> {
  return {
    name,
    boolean: false,
    defaultText: "",
    typeName: "list",
    expected: "a comma-separated list",
    help,
    schema: v.pipe(
      v.string(),
      v.transform((text) =>
        text
          .split(",")
          .map((item) => item.trim())
          .filter((item) => item !== ""),
      ),
    ),
  };
}

/** klog's --stderrthreshold: a severity name (any case) or its number 0-3. */
export function severityFlag(name: string, defaultText: string, help: string): FlagSpec<number> {
  const names = ["INFO", "WARNING", "ERROR", "FATAL"];
  return {
    name,
    boolean: false,
    defaultText,
    typeName: "severity",
    expected: "INFO, WARNING, ERROR, FATAL or 0-3",
    help,
    schema: converting((text) => {
      const byName = names.indexOf(text.toUpperCase());
      if (byName >= 0) return byName;
      return /^\d$/.test(text) ? inRange(Number(text), 0, 3) : undefined;
    }),
  };
}
